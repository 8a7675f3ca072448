//! One conformance suite for every order store, run against SQLite (a temporary file) and
//! PostgreSQL (a private server): one order per Message-ID — also when many writers race
//! for it, as bots on several hosts do —, rejections once per message key, lines and totals
//! read back as written, newest first, and migrations applied safely by instances starting
//! at the same moment.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::sync::Arc;
use std::time::Duration;

use mail_order_bot::{
    NewOrder, NewRejection, OrderLine, OrderStore, PostgresOrderStore, PostgresSettings,
    SqliteOrderStore, Stored,
};
use plba_contracts::Secret;
use plba_testkit::postgres::PostgresServer;

fn order(message_id: &str, sender: &str) -> NewOrder {
    NewOrder {
        message_id: message_id.to_owned(),
        customer_id: "ACME".to_owned(),
        sender: sender.to_owned(),
        subject: Some("Order".to_owned()),
        received_at_ms: 1_700_000_000_000,
        lines: vec![
            OrderLine {
                sku: "A-1".to_owned(),
                quantity: 2,
                unit_price_cents: Some(150),
                attachment: "o.csv".to_owned(),
            },
            OrderLine {
                sku: "B-2".to_owned(),
                quantity: 1,
                unit_price_cents: None,
                attachment: "o.csv".to_owned(),
            },
        ],
    }
}

fn rejection(key: &str) -> NewRejection {
    NewRejection {
        message_key: key.to_owned(),
        sender: Some("stranger@example.org".to_owned()),
        subject: None,
        received_at_ms: 1_700_000_000_000,
        reasons: vec!["unknown sender".to_owned(), "no attachment".to_owned()],
        trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned()),
    }
}

/// The suite: `open` makes a new handle on the same store (another instance).
async fn conformance(open: impl Fn() -> Arc<dyn OrderStore>) {
    let store = open();
    store.check_writable().await.unwrap();

    let Stored::Created(id) = store
        .create_order(&order("<1@x>", "a@acme.example"))
        .await
        .unwrap()
    else {
        panic!("a new Message-ID makes an order");
    };
    assert_eq!(
        store
            .create_order(&order("<1@x>", "a@acme.example"))
            .await
            .unwrap(),
        Stored::AlreadyExists {
            id,
            sender: "a@acme.example".to_owned()
        },
        "the same Message-ID again changes nothing"
    );
    let read = store.get_order(id).await.unwrap().unwrap();
    assert_eq!(read.order, order("<1@x>", "a@acme.example"));
    assert_eq!(read.total_quantity, 3);
    assert_eq!(
        read.total_cents, None,
        "a line without a price leaves the total unknown"
    );
    assert!(store.get_order(id + 1_000).await.unwrap().is_none());

    // Many instances race for the same Message-IDs: each gets exactly one order.
    let racers: Vec<Arc<dyn OrderStore>> = (0..4).map(|_| open()).collect();
    let mut attempts = Vec::new();
    for n in 0..20 {
        for racer in &racers {
            let racer = Arc::clone(racer);
            attempts.push(tokio::spawn(async move {
                racer
                    .create_order(&order(&format!("<race-{n}@x>"), "a@acme.example"))
                    .await
                    .unwrap()
            }));
        }
    }
    let mut created = 0;
    for attempt in attempts {
        if matches!(attempt.await.unwrap(), Stored::Created(_)) {
            created += 1;
        }
    }
    assert_eq!(created, 20, "one order per Message-ID, whoever wins");

    // One store, many writes at once (committed together on SQLite, in batches large
    // enough for every statement size): repeated Message-IDs and message keys among them,
    // each write with its own sender and lines, and one Message-ID stored before. Each
    // gets what it would alone: one order per Message-ID, made by one of its writes, and
    // every other write of it told that order's id and sender.
    let together = |n: usize| {
        let key = match n % 3 {
            0 => "<1@x>".to_owned(),
            _ => format!("<together-{}@x>", n % 100),
        };
        let mut order = order(&key, &format!("s{n}@acme.example"));
        for line in &mut order.lines {
            line.sku = format!("{}-{n}", line.sku);
        }
        order
    };
    let mut writes = Vec::new();
    for n in 0..150 {
        let store = Arc::clone(&store);
        let order = together(n);
        writes.push(tokio::spawn(async move {
            let stored = store.create_order(&order).await;
            let rejected = store
                .record_rejection(&rejection(&format!("m:together-{}", n % 70)))
                .await;
            (order, stored.unwrap(), rejected.unwrap())
        }));
    }
    let mut made = std::collections::HashMap::new();
    let mut found = Vec::new();
    let mut rejection_ids = std::collections::HashMap::new();
    for (n, write) in writes.into_iter().enumerate() {
        let (order, stored, rejected) = write.await.unwrap();
        match stored {
            Stored::Created(new) => {
                let earlier = made.insert(order.message_id.clone(), (new, order));
                assert!(earlier.is_none(), "made twice: {earlier:?}");
            }
            Stored::AlreadyExists { id, sender } => found.push((order.message_id, id, sender)),
        }
        let same = rejection_ids.entry(n % 70).or_insert(rejected);
        assert_eq!(*same, rejected, "one rejection per key");
    }
    assert!(
        !made.contains_key("<1@x>"),
        "stored before: found, not made again"
    );
    for (key, id_told, sender) in &found {
        let (id_made, sender_made) = match made.get(key) {
            Some((new, order)) => (*new, order.sender.as_str()),
            None => (id, "a@acme.example"),
        };
        assert_eq!((*id_told, sender.as_str()), (id_made, sender_made), "{key}");
    }
    for (new, order) in made.values() {
        let read = store.get_order(*new).await.unwrap().unwrap();
        assert_eq!(&read.order, order, "its own sender and lines");
    }
    let new_orders = made.len();
    assert!(new_orders > 64, "{new_orders}");

    // Text a hostile mail may carry (NUL, which PostgreSQL text refuses) is stored anyway.
    let mut hostile = order("<hostile@x>", "a@acme.example");
    hostile.subject = Some("sub\0ject".to_owned());
    let Stored::Created(hostile_id) = store.create_order(&hostile).await.unwrap() else {
        panic!("a subject with NUL is stored");
    };
    assert!(store.get_order(hostile_id).await.unwrap().is_some());
    let mut nul_rejection = rejection("m:nul");
    nul_rejection.sender = Some("evil\0@example.org".to_owned());
    store.record_rejection(&nul_rejection).await.unwrap();

    let first = store.record_rejection(&rejection("m:1")).await.unwrap();
    assert_eq!(
        store.record_rejection(&rejection("m:1")).await.unwrap(),
        first,
        "a rejection is recorded once per message key"
    );
    let rejections = store.list_rejections(100).await.unwrap();
    assert_eq!(rejections.len(), 72);
    assert_eq!(rejections[0].rejection, rejection("m:1"));

    let orders = store.list_orders(500).await.unwrap();
    assert_eq!(orders.len(), 22 + new_orders);
    assert!(orders.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(store.list_orders(5).await.unwrap().len(), 5);

    // The nightly summary's figures: per customer, and the rejections, within the period.
    let mut priced = order("<globex@x>", "buyer@globex.example");
    priced.customer_id = "GLOBEX".to_owned();
    priced.lines.truncate(1);
    store.create_order(&priced).await.unwrap();
    let now = now_ms();
    let summary = store
        .summarize(now - 3_600_000, now + 3_600_000)
        .await
        .unwrap();
    let totals: Vec<(&str, i64, i64, i64)> = summary
        .customers
        .iter()
        .map(|c| {
            (
                c.customer_id.as_str(),
                c.orders,
                c.total_quantity,
                c.total_cents,
            )
        })
        .collect();
    let acme = i64::try_from(22 + new_orders).unwrap();
    assert_eq!(
        totals,
        vec![("ACME", acme, 3 * acme, 0), ("GLOBEX", 1, 2, 300)]
    );
    assert_eq!(summary.rejections, 72);
    let before = store.summarize(0, now - 3_600_000).await.unwrap();
    assert!(
        before.customers.is_empty() && before.rejections == 0,
        "{before:?}"
    );

    // A long order (lines are written several to a statement) reads back line for line.
    let mut long = order("<long@x>", "a@acme.example");
    long.lines = (0..150_u32)
        .map(|n| OrderLine {
            sku: format!("SKU-{n}"),
            quantity: n + 1,
            unit_price_cents: (n % 2 == 0).then_some(i64::from(n)),
            attachment: "long.csv".to_owned(),
        })
        .collect();
    let Stored::Created(long_id) = store.create_order(&long).await.unwrap() else {
        panic!("a long order is stored");
    };
    let read = store.get_order(long_id).await.unwrap().unwrap();
    assert_eq!(read.order, long, "every line, in order");
    assert_eq!(read.total_quantity, (1..=150).sum::<u64>());
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.db");
    conformance(|| Arc::new(SqliteOrderStore::open(&path).unwrap()) as Arc<dyn OrderStore>).await;
}

/// A write whose caller stops waiting half-way (a readiness probe whose client hung up, a
/// time limit) leaves no connection inside its transaction: every write after it succeeds
/// at once, none "within a transaction" or held up by a lock nobody releases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_cut_short_leave_the_sqlite_store_writable() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteOrderStore::open(&dir.path().join("orders.db")).unwrap();
    store.check_writable().await.unwrap();
    for i in 0..300_u64 {
        // Cut at every point from before BEGIN to after COMMIT.
        let cut = Duration::from_micros((i * 37) % 3_000);
        let _ = tokio::time::timeout(cut, store.check_writable()).await;
    }
    for n in 0..20 {
        let written = tokio::time::timeout(Duration::from_secs(2), store.check_writable())
            .await
            .unwrap_or_else(|_| panic!("write {n} held up: a cut write still holds the lock"));
        written.unwrap_or_else(|e| panic!("write {n}: {}", plba_util::error_chain(&e)));
    }
    let Stored::Created(_) = store
        .create_order(&order("<after-cuts@x>", "a@acme.example"))
        .await
        .unwrap()
    else {
        panic!("a new order is created");
    };
}

fn postgres_store(server: &PostgresServer) -> Arc<dyn OrderStore> {
    let settings = PostgresSettings {
        url: server.url(),
        password: Some(Secret::new(server.password().to_owned())),
        pool_size: 4,
        statement_timeout: Duration::from_secs(10),
    };
    Arc::new(PostgresOrderStore::open(&settings).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conforms() {
    let Some(server) = PostgresServer::start() else {
        return;
    };
    conformance(|| postgres_store(&server)).await;
    let recorded = server.query("SELECT count(*) FROM mail_order_bot_migrations");
    assert_eq!(recorded, "2", "each of the two migrations recorded once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_instances_starting_together_migrate_once() {
    let Some(server) = PostgresServer::start() else {
        return;
    };
    let starts: Vec<_> = (0..8)
        .map(|n| {
            let store = postgres_store(&server);
            tokio::spawn(async move {
                store
                    .create_order(&order(&format!("<start-{n}@x>"), "a@acme.example"))
                    .await
            })
        })
        .collect();
    for start in starts {
        assert!(matches!(start.await.unwrap(), Ok(Stored::Created(_))));
    }
    assert_eq!(server.query("SELECT count(*) FROM orders"), "8");
    assert_eq!(
        server.query("SELECT count(*) FROM mail_order_bot_migrations"),
        "2",
        "each of the two migrations recorded once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_store_reports_a_wrong_password_clearly() {
    let Some(server) = PostgresServer::start() else {
        return;
    };
    let settings = PostgresSettings {
        url: server.url(),
        password: Some(Secret::new("wrong".to_owned())),
        pool_size: 1,
        statement_timeout: Duration::from_secs(5),
    };
    let store = PostgresOrderStore::open(&settings).unwrap();
    let error = store.check_writable().await.unwrap_err();
    let chain = plba_util::error_chain(&error);
    assert!(chain.contains("password authentication failed"), "{chain}");
    assert!(
        !chain.contains("secret"),
        "no password in the error: {chain}"
    );
}

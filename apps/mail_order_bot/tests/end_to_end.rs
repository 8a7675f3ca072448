//! The real module in the real runtime, on a temporary Maildir and SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use mail_order_bot::{
    DomainError, MailOrderBot, NewOrder, NewRejection, Order, OrderStore, Rejection, SAMPLES,
    SqliteOrderStore, Stored,
};
use plba_contracts::async_trait;
use plba_core::{RuntimeManager, RuntimeOptions, RuntimeState};
use plba_mail_maildir::{Maildir, MaildirOptions};
use plba_testkit::mail::MailBuilder;
use plba_testkit::servers::RedisServer;
use plba_testkit::wait::{eventually, eventually_async, within};
use tokio::sync::Semaphore;

const DEADLINE: Duration = Duration::from_secs(30);

struct Setup {
    _dir: tempfile::TempDir,
    maildir_path: PathBuf,
    db_path: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self {
            maildir_path: dir.path().join("Maildir"),
            db_path: dir.path().join("orders.db"),
            _dir: dir,
        }
    }

    fn config(&self) -> serde_json::Value {
        self.config_with_queue(&serde_json::json!({ "kind": "memory", "max_attempts": 1000 }))
    }

    fn config_with_queue(&self, queue: &serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "mail_order_bot": {
                "source": { "kind": "maildir", "path": self.maildir_path, "rescan_interval_ms": 50 },
                "store": { "sqlite_path": self.db_path },
                "workers": 3,
                "queue": queue,
                "retry": { "initial_ms": 10, "max_ms": 50 },
                "customers": { "@acme.example": "ACME", "buyer@globex.example": "GLOBEX" },
                "summary": { "directory": self.db_path.with_file_name("summaries") }
            }
        })
    }

    fn maildir(&self) -> Maildir {
        Maildir::open(MaildirOptions {
            path: self.maildir_path.clone(),
            ..MaildirOptions::default()
        })
        .unwrap()
    }

    async fn runtime(&self, module: &MailOrderBot) -> RuntimeManager {
        self.runtime_with(module, self.config()).await
    }

    async fn runtime_with(
        &self,
        module: &MailOrderBot,
        config: serde_json::Value,
    ) -> RuntimeManager {
        let runtime = RuntimeManager::with_config(
            RuntimeOptions {
                stop_timeout: Duration::from_secs(30),
                ..RuntimeOptions::default()
            },
            Arc::new(config),
        );
        runtime.register(module).await.unwrap();
        runtime.start().await.unwrap();
        runtime
    }

    fn store(&self) -> SqliteOrderStore {
        SqliteOrderStore::open(&self.db_path).unwrap()
    }
}

fn cur_files(path: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_gets_its_expected_outcome() {
    let setup = Setup::new();
    check_samples(&setup, setup.config()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_samples_give_the_same_outcomes_over_a_redis_queue() {
    let redis = RedisServer::start().expect("redis-server is needed");
    let setup = Setup::new();
    let queue = serde_json::json!({ "kind": "redis", "url": redis.url(), "max_attempts": 1000 });
    check_samples(&setup, setup.config_with_queue(&queue)).await;
}

async fn check_samples(setup: &Setup, config: serde_json::Value) {
    let maildir = setup.maildir();
    let mut keys = Vec::new();
    for (_, bytes) in SAMPLES {
        keys.push(maildir.deliver(Bytes::from_static(bytes)).await.unwrap());
    }
    let runtime = setup.runtime_with(&MailOrderBot::new(), config).await;
    eventually_async(DEADLINE, "every sample processed", || async {
        maildir.scan_new().await.unwrap().is_empty()
    })
    .await;
    within(DEADLINE, "stop", runtime.stop()).await;

    let store = setup.store();
    let orders = store.list_orders(100).await.unwrap();
    let mut by_id: Vec<(&str, &str, u64, Option<i64>)> = orders
        .iter()
        .map(|o| {
            (
                o.order.message_id.as_str(),
                o.order.customer_id.as_str(),
                o.total_quantity,
                o.total_cents,
            )
        })
        .collect();
    by_id.sort();
    assert_eq!(
        by_id,
        [
            ("0001@acme.example", "ACME", 3, Some(12400)),
            ("0002@globex.example", "GLOBEX", 6, Some(2850)),
            ("0003@acme.example", "ACME", 13, Some(2415)),
            ("0004@acme.example", "ACME", 6, None),
        ],
        "four orders; the duplicate of 0001 created none"
    );
    let first: &Order = orders
        .iter()
        .find(|o| o.order.message_id == "0001@acme.example")
        .unwrap();
    let lines: Vec<(&str, u32)> = first
        .order
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.quantity))
        .collect();
    assert_eq!(lines, [("A-100", 2), ("B-200", 1)]);

    let rejections = store.list_rejections(100).await.unwrap();
    let mut reasons: Vec<(&str, &str)> = rejections
        .iter()
        .map(|r| {
            (
                r.rejection.message_key.as_str(),
                r.rejection.reasons[0].as_str(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            (
                "0005@unknown.example",
                "unknown sender someone@unknown.example"
            ),
            (
                "0006@acme.example",
                "no order attachment (a .csv or .xlsx file)"
            ),
            (
                "0007@acme.example",
                "broken.csv line 2: quantity must be above zero"
            ),
        ]
    );
    assert_eq!(
        rejections
            .iter()
            .find(|r| r.rejection.message_key == "0007@acme.example")
            .unwrap()
            .rejection
            .reasons
            .len(),
        4
    );

    // Every file ended in cur/: seen, and rejected ones flagged too; nothing left in new/.
    let cur = cur_files(&setup.maildir_path);
    assert_eq!(cur.len(), SAMPLES.len());
    let flags_of = |sample: usize| {
        let name = cur.iter().find(|n| n.starts_with(&keys[sample])).unwrap();
        name.rsplit_once(":2,").unwrap().1.to_owned()
    };
    for (sample, expected) in [
        (0, "S"),
        (1, "S"),
        (2, "S"),
        (3, "S"),
        (4, "FS"),
        (5, "FS"),
        (6, "FS"),
        (7, "S"),
    ] {
        assert_eq!(flags_of(sample), expected, "sample {}", SAMPLES[sample].0);
    }
    assert!(maildir.scan_new().await.unwrap().is_empty());
}

/// The SQLite store, with switches the tests use to make it fail or wait.
struct Controlled {
    inner: SqliteOrderStore,
    failing: AtomicBool,
    attempts: AtomicUsize,
    gate: Option<Arc<Semaphore>>,
}

impl Controlled {
    fn new(inner: SqliteOrderStore) -> Self {
        Self {
            inner,
            failing: AtomicBool::new(false),
            attempts: AtomicUsize::new(0),
            gate: None,
        }
    }
}

#[async_trait]
impl OrderStore for Controlled {
    async fn create_order(&self, order: &NewOrder) -> Result<Stored, DomainError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(DomainError::store("database is unavailable (test)"));
        }
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        self.inner.create_order(order).await
    }
    async fn record_rejection(&self, rejection: &NewRejection) -> Result<i64, DomainError> {
        self.inner.record_rejection(rejection).await
    }
    async fn list_orders(&self, limit: u32) -> Result<Vec<Order>, DomainError> {
        self.inner.list_orders(limit).await
    }
    async fn get_order(&self, id: i64) -> Result<Option<Order>, DomainError> {
        self.inner.get_order(id).await
    }
    async fn list_rejections(&self, limit: u32) -> Result<Vec<Rejection>, DomainError> {
        self.inner.list_rejections(limit).await
    }
    async fn summarize(
        &self,
        from_ms: i64,
        until_ms: i64,
    ) -> Result<mail_order_bot::PeriodSummary, DomainError> {
        self.inner.summarize(from_ms, until_ms).await
    }
    async fn check_writable(&self) -> Result<(), DomainError> {
        self.inner.check_writable().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_leaves_the_mail_unseen_and_it_is_retried_until_it_recovers() {
    let setup = Setup::new();
    let maildir = setup.maildir();
    let key = maildir
        .deliver(Bytes::from_static(SAMPLES[0].1))
        .await
        .unwrap();
    let store = Arc::new(Controlled::new(setup.store()));
    store.failing.store(true, Ordering::SeqCst);
    let runtime = setup
        .runtime(&MailOrderBot::with_store(store.clone()))
        .await;

    eventually(DEADLINE, "several failed attempts", || {
        store.attempts.load(Ordering::SeqCst) >= 3
    })
    .await;
    assert_eq!(
        maildir.scan_new().await.unwrap(),
        vec![key.clone()],
        "still unseen in new/"
    );
    assert!(cur_files(&setup.maildir_path).is_empty());
    assert!(setup.store().list_orders(10).await.unwrap().is_empty());

    store.failing.store(false, Ordering::SeqCst);
    eventually_async(DEADLINE, "processed after recovery", || async {
        maildir.scan_new().await.unwrap().is_empty()
    })
    .await;
    assert_eq!(cur_files(&setup.maildir_path), vec![format!("{key}:2,S")]);
    let orders = setup.store().list_orders(10).await.unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].order.message_id, "0001@acme.example");
    within(DEADLINE, "stop", runtime.stop()).await;
}

fn order_mail(n: usize) -> Vec<u8> {
    MailBuilder::new("orders@acme.example", &format!("<bulk-{n}@acme.example>"))
        .attachment(
            "o.csv",
            "text/csv",
            format!("sku,quantity\nA-{n},{}\n", n + 1).as_bytes(),
        )
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_mid_run_leaves_nothing_half_done_and_a_restart_finishes_exactly_once() {
    const MAILS: usize = 30;
    let setup = Setup::new();
    let maildir = setup.maildir();
    for n in 0..MAILS {
        maildir.deliver(Bytes::from(order_mail(n))).await.unwrap();
    }
    let gate = Arc::new(Semaphore::new(0));
    let mut gated = Controlled::new(setup.store());
    gated.gate = Some(Arc::clone(&gate));
    let store = Arc::new(gated);
    let runtime = setup
        .runtime(&MailOrderBot::with_store(store.clone()))
        .await;

    gate.add_permits(5);
    eventually_async(DEADLINE, "five orders stored", || async {
        setup.store().list_orders(100).await.unwrap().len() == 5
    })
    .await;
    // Three more handlers are now waiting inside the store: stop while they are in flight.
    eventually(DEADLINE, "handlers waiting in the store", || {
        store.attempts.load(Ordering::SeqCst) >= 8
    })
    .await;
    let stopping = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.stop().await }
    });
    let mut state = runtime.subscribe_state();
    plba_testkit::wait::reach(&mut state, RuntimeState::Stopping, DEADLINE, "stopping").await;
    gate.add_permits(3);
    let report = within(DEADLINE, "graceful stop", stopping).await.unwrap();
    assert!(report.graceful, "{report:?}");

    // Nothing half-done: each stored order's mail is in cur/, each mail still in new/ has no order.
    let stored = setup.store().list_orders(100).await.unwrap().len();
    let seen = cur_files(&setup.maildir_path).len();
    let unseen = maildir.scan_new().await.unwrap().len();
    assert_eq!(stored, 8, "the three in flight finished");
    assert_eq!(
        (seen, unseen),
        (stored, MAILS - stored),
        "seen exactly the stored ones"
    );

    // A restart (a new module and runtime, as after a process restart) finishes the rest once.
    let runtime = setup.runtime(&MailOrderBot::new()).await;
    eventually_async(DEADLINE, "all processed after restart", || async {
        maildir.scan_new().await.unwrap().is_empty()
    })
    .await;
    within(DEADLINE, "stop", runtime.stop()).await;
    let orders = setup.store().list_orders(100).await.unwrap();
    let mut ids: Vec<String> = orders.iter().map(|o| o.order.message_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (orders.len(), ids.len()),
        (MAILS, MAILS),
        "every mail exactly one order"
    );
    assert_eq!(cur_files(&setup.maildir_path).len(), MAILS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_samples_give_the_same_outcomes_over_imap_polling() {
    imap_samples("imap_poll").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_samples_give_the_same_outcomes_over_imap_idle_even_across_a_uidvalidity_change() {
    imap_samples("imap_idle").await;
}

async fn imap_samples(kind: &str) {
    let Some(dovecot) = plba_testkit::servers::Dovecot::start() else {
        return;
    };
    for (_, bytes) in SAMPLES {
        dovecot.append("INBOX", bytes);
    }
    let setup = Setup::new();
    let mut config = setup.config();
    config["mail_order_bot"]["source"] = serde_json::json!({
        "kind": kind,
        "host": "127.0.0.1",
        "port": dovecot.port(),
        "security": "plain",
        "user": plba_testkit::servers::IMAP_USER.0,
        "password": plba_testkit::servers::IMAP_USER.1,
        "poll_interval_ms": 100,
    });
    let runtime = setup.runtime_with(&MailOrderBot::new(), config).await;
    let user = plba_testkit::servers::IMAP_USER.0;
    let all_seen = || {
        dovecot
            .mailbox_status("messages unseen", "INBOX")
            .contains("messages=8 unseen=0")
    };
    eventually(DEADLINE, "every sample seen", all_seen).await;

    let check = async || {
        let store = setup.store();
        let mut orders: Vec<String> = store
            .list_orders(100)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.order.message_id)
            .collect();
        orders.sort();
        assert_eq!(
            orders,
            [
                "0001@acme.example",
                "0002@globex.example",
                "0003@acme.example",
                "0004@acme.example"
            ]
        );
        let mut rejected: Vec<String> = store
            .list_rejections(100)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.rejection.message_key)
            .collect();
        rejected.sort();
        assert_eq!(
            rejected,
            [
                "0005@unknown.example",
                "0006@acme.example",
                "0007@acme.example"
            ]
        );
        let flags = dovecot.doveadm(&["fetch", "-u", user, "flags", "mailbox", "INBOX", "all"]);
        assert_eq!(
            flags.matches("\\Flagged").count(),
            3,
            "the three rejected mails are flagged: {flags}"
        );
    };
    check().await;

    if kind == "imap_idle" {
        // The mailbox is recreated under a new UIDVALIDITY with the same mails, unseen again:
        // they are processed again and the Message-ID idempotency creates no second order.
        dovecot.doveadm(&["expunge", "-u", user, "mailbox", "INBOX", "all"]);
        dovecot.doveadm(&[
            "mailbox",
            "update",
            "-u",
            user,
            "--uid-validity",
            "4242",
            "INBOX",
        ]);
        for (_, bytes) in SAMPLES {
            dovecot.append("INBOX", bytes);
        }
        eventually(DEADLINE, "every sample seen again", all_seen).await;
        check().await;
    }
    within(DEADLINE, "stop", runtime.stop()).await;
}

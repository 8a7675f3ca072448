//! The configuration store on both databases it keeps configuration in: SQLite, and a real
//! PostgreSQL (a cluster of the test's own, on loopback). The same revisions, history, layer
//! and rollback on both, and on PostgreSQL writers at once lose none of each other's changes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use plba_config_store::{Change, ConfigStore};
use plba_testkit::postgres::PostgresServer;

fn set(key: &str, value: &str) -> Change {
    Change {
        key: key.to_owned(),
        value: Some(value.to_owned()),
    }
}

/// What every store must do: revisions count up per application, the layer holds the
/// latest values, the history says who changed what from which value, and the changes back
/// to a revision restore it.
async fn keeps_revisions_and_history(store: &ConfigStore) {
    let one = store
        .apply("bot", &[set("bot.workers", "4")], "ana", Some("busier"))
        .await
        .unwrap();
    let two = store
        .apply(
            "bot",
            &[set("bot.workers", "8"), set("bot.queue.capacity", "100")],
            "bob",
            None,
        )
        .await
        .unwrap();
    assert_eq!((one, two), (1, 2));
    store
        .apply("other", &[set("other.limit", "1")], "ana", None)
        .await
        .unwrap();
    let layer = store.layer("bot").await.unwrap();
    assert_eq!(layer.revision, 2);
    assert_eq!(
        layer.values,
        vec![
            ("bot.queue.capacity".to_owned(), "100".to_owned()),
            ("bot.workers".to_owned(), "8".to_owned()),
        ]
    );
    assert!(!layer.origin.contains("secret"), "{}", layer.origin);
    let history = store.history("bot", Some("bot.workers"), 10).await.unwrap();
    let seen: Vec<(u64, Option<&str>, Option<&str>, &str)> = history
        .iter()
        .map(|h| {
            (
                h.revision,
                h.old_value.as_deref(),
                h.new_value.as_deref(),
                h.actor.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (2, Some("4"), Some("8"), "bob"),
            (1, None, Some("4"), "ana")
        ]
    );
    let back = store.changes_back_to("bot", 1).await.unwrap();
    let three = store
        .apply("bot", &back, "ana", Some("rollback to 1"))
        .await
        .unwrap();
    assert_eq!(three, 3);
    assert_eq!(
        store.layer("bot").await.unwrap().values,
        vec![("bot.workers".to_owned(), "4".to_owned())]
    );
    assert_eq!(store.revision("other").await.unwrap(), 1);
}

#[test]
fn sqlite_and_postgres_keep_revisions_and_history_alike() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("config.db").display());
    runtime.block_on(async {
        let store = ConfigStore::open(&url).await.unwrap();
        keeps_revisions_and_history(&store).await;
    });

    let Some(pg) = PostgresServer::start() else {
        return;
    };
    let url = pg
        .url()
        .replacen("://plba@", &format!("://plba:{}@", pg.password()), 1);
    runtime.block_on(async {
        let store = ConfigStore::open(&url).await.unwrap();
        assert!(
            !store
                .layer("none")
                .await
                .unwrap()
                .origin
                .contains(pg.password()),
            "no password in what errors show"
        );
        keeps_revisions_and_history(&store).await;
        // Eight writers at once, five changes each: forty revisions, none lost.
        let writers: Vec<_> = (0..8)
            .map(|writer| {
                let store = store.clone();
                tokio::spawn(async move {
                    for n in 0..5 {
                        let key = format!("load.w{writer}");
                        store
                            .apply("load", &[set(&key, &n.to_string())], "writer", None)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
        assert_eq!(store.revision("load").await.unwrap(), 40);
        // Instances starting together on an empty database make the tables once.
        let fresh = pg.create_database("fresh").replacen(
            "://plba@",
            &format!("://plba:{}@", pg.password()),
            1,
        );
        let opening: Vec<_> = (0..8)
            .map(|_| {
                let fresh = fresh.clone();
                tokio::spawn(async move { ConfigStore::open(&fresh).await.map(drop) })
            })
            .collect();
        for opened in opening {
            opened.await.unwrap().unwrap();
        }
        let history = store.history("load", None, 100).await.unwrap();
        let mut revisions: Vec<u64> = history.iter().map(|h| h.revision).collect();
        revisions.sort_unstable();
        assert_eq!(revisions, (1..=40).collect::<Vec<u64>>());
        let layer = store.layer("load").await.unwrap();
        assert!(
            layer.values.iter().all(|(_, value)| value == "4"),
            "{layer:?}"
        );
    });
    // An instance needs only to read: a role that may only read follows the values, and
    // cannot change them.
    pg.query(
        "CREATE ROLE reader LOGIN PASSWORD 'reader-password'; \
         GRANT SELECT ON plba_config_revisions, plba_config_values, plba_config_history TO reader",
    );
    let reader = pg
        .url()
        .replacen("://plba@", "://reader:reader-password@", 1);
    runtime.block_on(async {
        let store = ConfigStore::open(&reader).await.unwrap();
        assert_eq!(store.layer("load").await.unwrap().revision, 40);
        assert!(
            store
                .apply("load", &[set("load.w0", "5")], "reader", None)
                .await
                .is_err()
        );
    });
}

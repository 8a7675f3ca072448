//! The decoding of tagged sections and the refusal of adapters a build lacks, tested in
//! any build: the set of compiled-in adapters is a parameter, so the default (full) build
//! can play a minimal one.

use super::adapter::{Adapter, NotBuilt};
#[cfg(feature = "postgres")]
use super::schema::PostgresStoreOptions;
use super::schema::{
    AppConfig, QueueConfig, SourceConfig, SourceLeaseConfig, SqliteStoreOptions, StoreConfig,
    default_lease_ttl_ms, default_prefix, default_republish_after_ms,
};

fn without(missing: Adapter) -> impl Fn(Adapter) -> bool {
    move |adapter| adapter != missing
}

fn refusal(config: &AppConfig, built: impl Fn(Adapter) -> bool) -> String {
    config
        .check_adapters(built)
        .expect_err("refused")
        .within("mail_order_bot")
        .to_string()
}

#[test]
fn an_imap_source_in_a_build_without_imap_is_refused_naming_the_feature() {
    for kind in ["imap_poll", "imap_idle"] {
        let body = serde_json::json!({ "host": "mail.example", "username": "u" });
        let source: SourceConfig =
            SourceConfig::decode::<serde_json::Error>(kind, body, without(Adapter::Imap))
                .expect("the grammar is the same in every build");
        assert_eq!(
            source,
            SourceConfig::NotBuilt(NotBuilt::new(kind, Adapter::Imap))
        );
        let config = AppConfig {
            source,
            ..AppConfig::default()
        };
        let message = refusal(&config, without(Adapter::Imap));
        assert!(
            message.contains(&format!(
                "`mail_order_bot.source.kind`: {kind} needs a mail_order_bot built with the `imap` feature"
            )),
            "{message}"
        );
        // `check` refuses it as well, whatever this build holds.
        assert!(config.check().is_err());
    }
}

#[test]
fn a_maildir_source_in_a_build_without_maildir_is_refused_naming_the_feature() {
    let source = SourceConfig::decode::<serde_json::Error>(
        "maildir",
        serde_json::json!({}),
        without(Adapter::Maildir),
    )
    .expect("parses");
    let config = AppConfig {
        source,
        ..AppConfig::default()
    };
    let message = refusal(&config, without(Adapter::Maildir));
    assert!(
        message.contains("maildir needs a mail_order_bot built with the `maildir` feature"),
        "{message}"
    );
}

#[test]
fn a_redis_queue_in_a_build_without_redis_is_refused_naming_the_feature() {
    let queue = QueueConfig::decode::<serde_json::Error>(
        "redis",
        serde_json::json!({ "url": "redis://127.0.0.1:6379" }),
        without(Adapter::Redis),
    )
    .expect("parses");
    assert_eq!(
        queue,
        QueueConfig::NotBuilt(NotBuilt::new("redis", Adapter::Redis))
    );
    let config = AppConfig {
        queue,
        ..AppConfig::default()
    };
    let message = refusal(&config, without(Adapter::Redis));
    assert!(
        message.contains(
            "`mail_order_bot.queue.kind`: redis needs a mail_order_bot built with the `redis` feature"
        ),
        "{message}"
    );
    assert!(config.check().is_err());
}

#[cfg(feature = "postgres")]
#[test]
fn a_postgres_store_needs_a_url_the_driver_reads_without_a_password() {
    let store = |url: Option<&str>| StoreConfig::Postgres {
        postgres: PostgresStoreOptions {
            url: url.map(str::to_owned),
            ..PostgresStoreOptions::default()
        },
    };
    let refusal = |config: StoreConfig| config.check().err().map(|e| e.to_string());
    assert!(refusal(store(None)).is_some_and(|m| m.contains("store.url")));
    assert!(refusal(store(Some("mysql://db/orders"))).is_some_and(|m| m.contains("postgres://")));
    let leaked = refusal(store(Some("postgres://bot:hunter2@db:5432/orders")));
    assert!(
        leaked
            .as_deref()
            .is_some_and(|m| m.contains("password_file") && !m.contains("hunter2")),
        "{leaked:?}"
    );
    assert_eq!(refusal(store(Some("postgres://bot@db:5432/orders"))), None);
    assert_eq!(refusal(store(Some("postgresql://db/orders"))), None);
    // An @ in the path or the query is not a user part.
    assert_eq!(
        refusal(store(Some("postgres://db/orders?user=a:b@c"))),
        None
    );
    for url in [
        "postgres://bot@db/orders?sslmode=require&password=x",
        "postgres://bot@db/orders?sslmode=disable&%70assword=x",
        "postgres://bot@db/orders?PASSWORD=x",
    ] {
        let in_query = refusal(store(Some(url)));
        assert!(
            in_query.is_some_and(|m| m.contains("password_file")),
            "{url}"
        );
    }
    // What the driver refuses is refused here, not first at start-up.
    let unreadable = refusal(store(Some("postgres://db/orders?sslmode=sometimes")));
    assert!(
        unreadable
            .as_deref()
            .is_some_and(|m| m.contains("is not a PostgreSQL URL")),
        "{unreadable:?}"
    );
    let no_url = refusal(store(Some("db.example/orders")));
    assert!(
        no_url.as_deref().is_some_and(|m| m.contains("store.url")),
        "{no_url:?}"
    );
}

#[test]
fn a_postgres_store_in_a_build_without_postgres_is_refused_naming_the_feature() {
    let store = StoreConfig::decode::<serde_json::Error>(
        "postgres",
        serde_json::json!({ "url": "postgres://bot@db/orders", "pool_size": 4 }),
        without(Adapter::Postgres),
    )
    .expect("the grammar is the same in every build");
    assert_eq!(
        store,
        StoreConfig::NotBuilt(NotBuilt::new("postgres", Adapter::Postgres))
    );
    let config = AppConfig {
        store,
        ..AppConfig::default()
    };
    let message = refusal(&config, without(Adapter::Postgres));
    assert!(
        message.contains(
            "`mail_order_bot.store.kind`: postgres needs a mail_order_bot built with the `postgres` feature"
        ),
        "{message}"
    );
    assert!(config.check().is_err());
}

#[test]
fn the_store_defaults_to_sqlite_and_ignores_the_other_kinds_keys() {
    let store: StoreConfig = serde_json::from_value(serde_json::json!({})).expect("parses");
    assert_eq!(store, StoreConfig::default());
    // The keys of the other kind are accepted and ignored, as when the section was one
    // struct: a file written for one kind still loads when an override switches the kind.
    let sqlite = StoreConfig::decode::<serde_json::Error>(
        "sqlite",
        serde_json::json!({
            "sqlite_path": "orders.db",
            "url": "postgres://bot@db/orders",
            "password": "x",
            "pool_size": 4,
            "statement_timeout_ms": 100,
        }),
        Adapter::compiled_in,
    )
    .expect("parses");
    assert_eq!(
        sqlite,
        StoreConfig::Sqlite {
            sqlite: SqliteStoreOptions {
                sqlite_path: "orders.db".into()
            }
        }
    );
    let postgres = StoreConfig::decode::<serde_json::Error>(
        "postgres",
        serde_json::json!({ "url": "postgres://bot@db/orders", "sqlite_path": "orders.db" }),
        Adapter::compiled_in,
    )
    .expect("parses");
    assert_eq!(
        matches!(postgres, StoreConfig::NotBuilt(_)),
        !Adapter::Postgres.compiled_in()
    );
    // Any other key is still an error, naming it.
    let error = serde_json::from_value::<StoreConfig>(
        serde_json::json!({ "kind": "sqlite", "sqlite_pth": "orders.db" }),
    )
    .expect_err("unknown key");
    assert!(error.to_string().contains("sqlite_pth"), "{error}");
}

#[test]
fn a_source_lease_in_a_build_without_redis_is_refused_naming_the_feature() {
    let config = AppConfig {
        source_lease: Some(SourceLeaseConfig {
            url: "redis://127.0.0.1:6379".to_owned(),
            prefix: default_prefix(),
            ttl_ms: default_lease_ttl_ms(),
            republish_after_ms: default_republish_after_ms(),
        }),
        ..AppConfig::default()
    };
    let message = refusal(&config, without(Adapter::Redis));
    assert!(
        message.contains(
            "`mail_order_bot.source_lease`: needs a mail_order_bot built with the `redis` feature"
        ),
        "{message}"
    );
    // Only the lease's adapter matters: a build without IMAP accepts it.
    assert!(config.check_adapters(without(Adapter::Imap)).is_ok());
}

#[test]
fn unknown_kinds_stay_unknown_whatever_the_build_holds() {
    for built in [Adapter::compiled_in as fn(Adapter) -> bool, |_| false] {
        let error = SourceConfig::decode::<serde_json::Error>("pop3", serde_json::json!({}), built)
            .expect_err("unknown");
        assert!(
            error.to_string().contains("unknown kind \"pop3\""),
            "{error}"
        );
        let error = QueueConfig::decode::<serde_json::Error>("kafka", serde_json::json!({}), built)
            .expect_err("unknown");
        assert!(
            error.to_string().contains("unknown kind \"kafka\""),
            "{error}"
        );
        let error = StoreConfig::decode::<serde_json::Error>("mysql", serde_json::json!({}), built)
            .expect_err("unknown");
        assert!(
            error.to_string().contains("unknown kind \"mysql\""),
            "{error}"
        );
    }
}

#[test]
fn a_build_decodes_the_kinds_it_holds_to_their_adapters() {
    let source = SourceConfig::decode::<serde_json::Error>(
        "maildir",
        serde_json::json!({}),
        Adapter::compiled_in,
    )
    .expect("parses");
    assert_eq!(
        matches!(source, SourceConfig::NotBuilt(_)),
        !Adapter::Maildir.compiled_in()
    );
    let queue = QueueConfig::decode::<serde_json::Error>(
        "redis",
        serde_json::json!({ "url": "redis://127.0.0.1:6379" }),
        Adapter::compiled_in,
    )
    .expect("parses");
    assert_eq!(
        matches!(queue, QueueConfig::NotBuilt(_)),
        !Adapter::Redis.compiled_in()
    );
}

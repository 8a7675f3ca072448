//! The decoding of tagged sections and the refusal of adapters a build lacks, tested in
//! any build: the set of compiled-in adapters is a parameter, so the default (full) build
//! can play a minimal one.

use plba_contracts::EmptyConfig;

use super::adapter::{Adapter, NotBuilt};
use super::decode::Tagged;
#[cfg(feature = "postgres")]
use super::schema::PostgresStoreOptions;
use super::schema::{
    AppConfig, QueueConfig, SourceConfig, SourceLeaseConfig, SqliteStoreOptions, StoreConfig,
    default_lease_ttl_ms, default_prefix, default_republish_after_ms,
};

/// A tagged section naming `kind`, with the keys of `options`.
fn tagged(kind: &str, options: serde_json::Value) -> Tagged<'static> {
    let serde_json::Value::Object(mut keys) = options else {
        panic!("options are a map: {options}");
    };
    keys.insert("kind".to_owned(), kind.into());
    Tagged::read(&EmptyConfig, "section".to_owned(), keys, "none").expect("names a kind")
}

/// The `mail_order_bot` section `section`, read as the bot reads it.
fn section(section: serde_json::Value) -> Result<AppConfig, plba_contracts::ConfigError> {
    let config = serde_json::Value::Object(
        [("mail_order_bot".to_owned(), section)]
            .into_iter()
            .collect(),
    );
    AppConfig::from_config(&config).map(|app| app.expect("the section is there"))
}

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
        let source: SourceConfig = SourceConfig::decode(tagged(kind, body), without(Adapter::Imap))
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
    let source = SourceConfig::decode(
        tagged("maildir", serde_json::json!({})),
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
    let queue = QueueConfig::decode(
        tagged(
            "redis",
            serde_json::json!({ "url": "redis://127.0.0.1:6379" }),
        ),
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
    let store = StoreConfig::decode(
        tagged(
            "postgres",
            serde_json::json!({ "url": "postgres://bot@db/orders", "pool_size": 4 }),
        ),
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
    let store = section(serde_json::json!({ "store": {} }))
        .expect("parses")
        .store;
    assert_eq!(store, StoreConfig::default());
    // The keys of the other kind are accepted and ignored, as when the section was one
    // struct: a file written for one kind still loads when an override switches the kind.
    let sqlite = StoreConfig::decode(
        tagged(
            "sqlite",
            serde_json::json!({
                "sqlite_path": "orders.db",
                "url": "postgres://bot@db/orders",
                "password": "x",
                "pool_size": 4,
                "statement_timeout_ms": 100,
            }),
        ),
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
    let postgres = StoreConfig::decode(
        tagged(
            "postgres",
            serde_json::json!({ "url": "postgres://bot@db/orders", "sqlite_path": "orders.db" }),
        ),
        Adapter::compiled_in,
    )
    .expect("parses");
    assert_eq!(
        matches!(postgres, StoreConfig::NotBuilt(_)),
        !Adapter::Postgres.compiled_in()
    );
    // Any other key is still an error, naming it.
    let error = section(serde_json::json!({
        "store": { "kind": "sqlite", "sqlite_pth": "orders.db" }
    }))
    .expect_err("unknown key");
    assert!(
        error
            .to_string()
            .contains("`mail_order_bot.store.sqlite_pth`"),
        "{error}"
    );
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
        let error = SourceConfig::decode(tagged("pop3", serde_json::json!({})), built)
            .expect_err("unknown");
        assert!(
            error.to_string().contains("unknown kind \"pop3\""),
            "{error}"
        );
        let error = QueueConfig::decode(tagged("kafka", serde_json::json!({})), built)
            .expect_err("unknown");
        assert!(
            error.to_string().contains("unknown kind \"kafka\""),
            "{error}"
        );
        let error = StoreConfig::decode(tagged("mysql", serde_json::json!({})), built)
            .expect_err("unknown");
        assert!(
            error.to_string().contains("unknown kind \"mysql\""),
            "{error}"
        );
    }
}

#[test]
fn a_build_decodes_the_kinds_it_holds_to_their_adapters() {
    let source = SourceConfig::decode(
        tagged("maildir", serde_json::json!({})),
        Adapter::compiled_in,
    )
    .expect("parses");
    assert_eq!(
        matches!(source, SourceConfig::NotBuilt(_)),
        !Adapter::Maildir.compiled_in()
    );
    let queue = QueueConfig::decode(
        tagged(
            "redis",
            serde_json::json!({ "url": "redis://127.0.0.1:6379" }),
        ),
        Adapter::compiled_in,
    )
    .expect("parses");
    assert_eq!(
        matches!(queue, QueueConfig::NotBuilt(_)),
        !Adapter::Redis.compiled_in()
    );
}

/// The section is read in two steps (its keys, then each tagged section's options), and an
/// error in either names the key from the section's root.
#[test]
fn an_error_inside_a_tagged_section_names_the_full_key() {
    let key_of = |error: plba_contracts::ConfigError| match error {
        plba_contracts::ConfigError::Invalid { key, .. } => key,
        other => panic!("not a key error: {other}"),
    };
    let cases = [
        (
            serde_json::json!({ "queue": { "kind": "memory", "capacity": "lots" } }),
            "mail_order_bot.queue.capacity",
        ),
        (
            serde_json::json!({ "queue": { "kind": 7 } }),
            "mail_order_bot.queue.kind",
        ),
        (
            serde_json::json!({ "queue": { "kind": "kafka" } }),
            "mail_order_bot.queue.kind",
        ),
        (serde_json::json!({ "source": 5 }), "mail_order_bot.source"),
        (
            serde_json::json!({ "source": null }),
            "mail_order_bot.source",
        ),
        (
            serde_json::json!({ "workers": "many" }),
            "mail_order_bot.workers",
        ),
        (serde_json::json!({ "worker": 5 }), "mail_order_bot.worker"),
        (
            serde_json::json!({ "store": { "sqlite_path": [] } }),
            "mail_order_bot.store.sqlite_path",
        ),
    ];
    // Of two mistakes, the first in key order, whichever step finds it.
    let two_mistakes = [
        (
            serde_json::json!({ "queue": { "capacity": "x" }, "workers": "x" }),
            "mail_order_bot.queue.capacity",
        ),
        (
            serde_json::json!({ "queue": { "capacity": "x" }, "customers": "x" }),
            "mail_order_bot.customers",
        ),
        (
            serde_json::json!({ "store": { "kind": "x" }, "source": { "kind": "y" } }),
            "mail_order_bot.source.kind",
        ),
        (
            serde_json::json!({ "store": { "kind": "x" }, "summary": 5 }),
            "mail_order_bot.store.kind",
        ),
    ];
    for (value, key) in cases.into_iter().chain(two_mistakes) {
        let error = section(value.clone()).expect_err("refused");
        assert_eq!(key_of(error), key, "{value}");
    }
    // The kind picks the options' type, the other keys are its.
    let source = section(serde_json::json!({
        "source": { "kind": "IMAP_IDLE", "host": "mail.example", "port": "abc" }
    }));
    if Adapter::Imap.compiled_in() {
        let error = source.expect_err("port is a number");
        assert!(
            error
                .to_string()
                .starts_with("invalid configuration at `mail_order_bot.source.port`: invalid type"),
            "{error}"
        );
    } else {
        assert!(source.is_ok_and(|app| matches!(app.source, SourceConfig::NotBuilt(_))));
    }
}

#[test]
fn an_absent_section_reads_as_none_and_absent_tagged_sections_as_their_defaults() {
    let config = serde_json::json!({ "other": {} });
    assert_eq!(AppConfig::from_config(&config), Ok(None));
    let app = section(serde_json::json!({ "workers": 4 })).expect("parses");
    assert_eq!(
        app,
        AppConfig {
            workers: 4,
            ..AppConfig::default()
        }
    );
}

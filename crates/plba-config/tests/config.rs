//! Loading, precedence, errors, secrets and reload of the configuration, on real files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::sync::Arc;

use plba_config::{ConfigLoadError, ConfigSource, ConfigurationManager, TraceExporter};
use plba_contracts::ConfigProviderExt;
use serde::Deserialize;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[derive(Debug, Deserialize, PartialEq)]
struct App {
    a: u32,
    b: u32,
    c: u32,
    d: u32,
}

#[test]
fn precedence_is_defaults_then_file_then_env_then_set() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "app.yaml", "app:\n  b: 2\n  c: 2\n  d: 2\n");
    let source = ConfigSource::new()
        .with_defaults(
            "built-in defaults",
            "app:\n  a: 1\n  b: 1\n  c: 1\n  d: 1\n",
        )
        .with_file(&file)
        .with_env_vars([
            ("PLBA__APP__C", "3"),
            ("PLBA__APP__D", "3"),
            ("OTHER__APP__A", "9"),
        ])
        .with_override("app.d=4");
    let snapshot = source.load().unwrap();
    let app: App = snapshot.section("app").unwrap().unwrap();
    assert_eq!(
        app,
        App {
            a: 1,
            b: 2,
            c: 3,
            d: 4
        }
    );
    assert_eq!(
        snapshot.origin_of("app.a").as_deref(),
        Some("built-in defaults")
    );
    assert_eq!(
        snapshot.origin_of("app.b"),
        Some(format!("file {} line 2", file.display()))
    );
    assert_eq!(
        snapshot.origin_of("app.c").as_deref(),
        Some("env PLBA__APP__C")
    );
    assert_eq!(snapshot.origin_of("app.d").as_deref(), Some("--set app.d"));
}

#[test]
fn broken_yaml_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "broken.yaml",
        "platform:\n  stop_timeout_ms: 10\napp:\n  list: [1, 2\nlog:\n  level: info\n",
    );
    let err = ConfigSource::new().with_file(&file).load().unwrap_err();
    assert!(matches!(err, ConfigLoadError::Syntax { .. }), "{err:?}");
    // The parser's error stays inspectable as the source; the report names file and line.
    let parser = std::error::Error::source(&err).expect("the YAML error is kept as the source");
    assert!(parser.is::<serde_yaml::Error>(), "{parser:?}");
    let text = plba_util::error_chain(&err);
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains("not valid YAML"), "{text}");
    assert!(text.contains("line 5"), "{text}");
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let err = ConfigSource::new()
        .with_file("/nonexistent/plba.yaml")
        .load()
        .unwrap_err();
    // What an operator reads: the error and its cause, once each.
    assert_eq!(
        plba_util::error_chain(&err),
        "cannot read configuration file /nonexistent/plba.yaml: No such file or directory (os error 2)"
    );
}

#[test]
fn a_wrong_type_names_the_key_and_where_the_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "app.yaml", "platform:\n  stop_timeout_ms: soon\n");
    let err = ConfigSource::new().with_file(&file).load().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`platform.stop_timeout_ms`"), "{text}");
    assert!(
        text.contains(&format!("file {} line 2", file.display())),
        "{text}"
    );
    assert!(
        text.contains("invalid type: string \"soon\", expected u64"),
        "{text}"
    );

    let err = ConfigSource::new()
        .with_env_vars([("PLBA__PLATFORM__FORCE_GRACE_MS", "later")])
        .load()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`platform.force_grace_ms` (from env PLBA__PLATFORM__FORCE_GRACE_MS)"),
        "{err}"
    );

    let err = ConfigSource::new()
        .with_override("log.format=fancy")
        .load()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`log.format` (from --set log.format)"),
        "{err}"
    );

    // A module's own section, read through the contracts' provider interface.
    let snapshot = ConfigSource::new()
        .with_override("app.limit=-3")
        .load()
        .unwrap();
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Limits {
        limit: u32,
    }
    let err = snapshot.section::<Limits>("app").unwrap_err();
    assert!(
        err.to_string()
            .contains("`app.limit` (from --set app.limit)"),
        "{err}"
    );
    let err = ConfigProviderExt::section::<Limits>(&snapshot, "app").unwrap_err();
    assert!(
        err.to_string()
            .contains("`app.limit` (from --set app.limit)"),
        "{err}"
    );
}

#[test]
fn an_unknown_key_in_platform_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "app.yaml", "platform:\n  stop_timeout: 10\n");
    let err = ConfigSource::new().with_file(&file).load().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`platform.stop_timeout`"), "{text}");
    assert!(text.contains("unknown field"), "{text}");
    let err = ConfigSource::new()
        .with_override("platform.tracing.exporter=jaeger")
        .load()
        .unwrap_err();
    assert!(
        err.to_string().contains("platform.tracing.exporter"),
        "{err}"
    );
    let err = ConfigSource::new()
        .with_override("log.level=loud")
        .load()
        .unwrap_err();
    assert!(err.to_string().contains("unknown level \"loud\""), "{err}");
    let err = ConfigSource::new()
        .with_override("log.level=info,plba_core=loud")
        .load()
        .unwrap_err();
    assert!(err.to_string().contains("unknown level \"loud\""), "{err}");
    let err = ConfigSource::new()
        .with_override("log.level=info,=debug")
        .load()
        .unwrap_err();
    assert!(err.to_string().contains("log.level"), "{err}");
}

#[test]
fn the_log_level_may_be_a_filter() {
    let snapshot = ConfigSource::new()
        .with_override("log.level=info,plba_core=debug")
        .load()
        .unwrap();
    assert_eq!(snapshot.log().level, "info,plba_core=debug");
    assert_eq!(snapshot.log().directives(), "info,plba_core=debug");
}

#[test]
fn a_secret_from_env_is_redacted_in_the_dump() {
    let snapshot = ConfigSource::new()
        .with_env_vars([
            ("PLBA__CONTROL__ADMIN_TOKEN", "tok-123"),
            ("PLBA__CONTROL__BIND", "127.0.0.1:9"),
        ])
        .load()
        .unwrap();
    let dump = snapshot.redacted();
    assert_eq!(dump["control"]["admin_token"], "[redacted]");
    assert_eq!(dump["control"]["bind"], "127.0.0.1:9");
}

#[test]
fn reload_with_an_invalid_file_keeps_the_old_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "app.yaml", "platform:\n  stop_timeout_ms: 1000\n");
    let manager = ConfigurationManager::load(ConfigSource::new().with_file(&file)).unwrap();
    let changes = manager.subscribe();

    write(&dir, "app.yaml", "platform:\n  stop_timeout_ms: [\n");
    let err = manager.reload().unwrap_err();
    assert!(matches!(err, ConfigLoadError::Syntax { .. }), "{err}");
    write(
        &dir,
        "app.yaml",
        "platform:\n  stop_timeout_ms: 5\n  typo: 1\n",
    );
    assert!(manager.reload().is_err());

    assert_eq!(manager.current().platform().stop_timeout_ms, 1000);
    assert_eq!(manager.current().generation(), 0);
    assert!(!changes.has_changed().unwrap(), "subscribers saw no change");
}

#[test]
fn a_refused_store_layer_keeps_the_last_good_one_through_later_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "app.yaml", "app:\n  a: 1\n  b: 1\n  c: 1\n  d: 1\n");
    let manager = ConfigurationManager::load(ConfigSource::new().with_file(&file)).unwrap();
    manager.require_section::<App>("app").unwrap();
    let layer = |revision: u64, value: &str| plba_config::StoredLayer {
        origin: "database sqlite://c.db".to_owned(),
        revision,
        values: vec![("app.b".to_owned(), value.to_owned())],
    };
    manager.apply_stored_layer(layer(1, "2")).unwrap();
    let b = |manager: &ConfigurationManager| {
        manager.current().section::<App>("app").unwrap().unwrap().b
    };
    assert_eq!(b(&manager), 2);
    let error = manager.check_stored_layer(layer(2, "-1")).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`app.b` (from database sqlite://c.db revision 2)"),
        "{error}"
    );
    assert!(manager.apply_stored_layer(layer(2, "nine")).is_err());
    assert_eq!(b(&manager), 2, "the refused layer is not in force");
    write(&dir, "app.yaml", "app:\n  a: 3\n  b: 1\n  c: 1\n  d: 1\n");
    manager.reload().unwrap();
    let app = manager.current().section::<App>("app").unwrap().unwrap();
    assert_eq!((app.a, app.b), (3, 2), "a reload keeps the last good layer");
    assert_eq!(manager.stored_layer().unwrap().revision, 1);
}

#[test]
fn reload_refuses_a_configuration_a_module_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "app.yaml", "app:\n  a: 1\n  b: 1\n  c: 1\n  d: 1\n");
    let manager = ConfigurationManager::load(ConfigSource::new().with_file(&file)).unwrap();
    manager.require_section::<App>("app").unwrap();
    write(&dir, "app.yaml", "app:\n  a: 1\n");
    let err = manager.reload().unwrap_err();
    assert!(err.to_string().contains("missing field `b`"), "{err}");
    let app: App = manager.current().section("app").unwrap().unwrap();
    assert_eq!(app.b, 1);
}

#[tokio::test]
async fn reload_with_a_valid_file_notifies_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "app.yaml",
        "platform:\n  tracing:\n    exporter: none\n",
    );
    let manager =
        Arc::new(ConfigurationManager::load(ConfigSource::new().with_file(&file)).unwrap());
    let mut changes = manager.subscribe();
    let provider = manager.provider();

    write(
        &dir,
        "app.yaml",
        "platform:\n  tracing:\n    exporter: log\napp:\n  limit: 7\n",
    );
    let snapshot = manager.reload_async().await.unwrap();
    assert_eq!(snapshot.generation(), 1);

    plba_testkit::wait::within(
        std::time::Duration::from_secs(5),
        "notification",
        changes.changed(),
    )
    .await
    .unwrap();
    assert_eq!(
        changes.borrow().platform().tracing.exporter,
        TraceExporter::Log
    );
    let app: serde_json::Value = provider.section("app").unwrap().unwrap();
    assert_eq!(app["limit"], 7, "the live provider follows reloads");
}

#[test]
fn the_shipped_example_configuration_is_valid_and_complete() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/plba.example.yaml");
    let snapshot = ConfigSource::new()
        .with_file(&example)
        .with_env_vars(Vec::<(String, String)>::new())
        .load()
        .unwrap();
    // The example spells out the defaults: loading it changes nothing.
    assert_eq!(snapshot.platform(), &plba_config::PlatformConfig::default());
    assert_eq!(snapshot.log(), &plba_config::LogConfig::default());
    let text = std::fs::read_to_string(&example).unwrap();
    for key in [
        "stop_timeout_ms",
        "force_grace_ms",
        "config_watch_interval_ms",
        "config_store",
        "exporter",
        "service_name",
        "sample_ratio",
        "in_process_producer_spans",
        "recent_traces",
        "endpoint",
        "timeout_ms",
        "max_queue_size",
        "max_export_batch_size",
        "scheduled_delay_ms",
        "headers",
        "enabled",
        "bind",
        "tokens",
        "protect_reads",
        "session_ttl_ms",
        "session_idle_ms",
        "users",
        "lockout",
        "oidc",
        "max_body_bytes",
        "header_timeout_ms",
        "request_timeout_ms",
        "body_timeout_ms",
        "max_connections",
        "level",
        "targets",
        "format",
        "output",
    ] {
        assert!(
            text.contains(&format!("{key}:")),
            "the example does not document `{key}`"
        );
    }
}

#[tokio::test]
async fn a_setting_changed_at_run_time_survives_reloads_and_a_refused_one_is_taken_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "app.yaml", "log:\n  level: info\n");
    let manager =
        Arc::new(ConfigurationManager::load(ConfigSource::new().with_file(&file)).unwrap());
    let changed = manager
        .set_async("log.level=debug".to_owned())
        .await
        .unwrap();
    assert_eq!(changed.log().level, "debug");
    assert_eq!(
        manager.reload().unwrap().log().level,
        "debug",
        "kept over a reload"
    );
    let refused = manager
        .set_async("platform.tracing.sample_ratio=5".to_owned())
        .await;
    assert!(refused.is_err());
    assert_eq!(
        manager.reload().unwrap().platform().tracing.sample_ratio,
        1.0,
        "the refused change is gone"
    );
    let back = manager
        .set_async("log.level=warn".to_owned())
        .await
        .unwrap();
    assert_eq!(
        back.log().level,
        "warn",
        "a later change to the same key replaces it"
    );
}

#[test]
fn a_key_nested_too_deep_or_too_many_overrides_are_refused_not_crashed_on() {
    let deep = format!("app{}", ".a".repeat(10_000));
    let err = ConfigSource::new()
        .with_env_vars(Vec::<(String, String)>::new())
        .with_override(format!("{deep}=1"))
        .load()
        .unwrap_err()
        .to_string();
    assert!(err.contains("10001 components, at most 32"), "{err}");

    let many: Vec<(String, String)> = (0..1100)
        .map(|n| (format!("PLBA__APP__K{n}"), "1".to_owned()))
        .collect();
    let err = ConfigSource::new()
        .with_env_vars(many)
        .load()
        .unwrap_err()
        .to_string();
    assert!(err.contains("1100 given, at most 1024"), "{err}");
}

#[test]
fn an_otlp_header_that_would_break_the_request_is_refused() {
    for (name, value, expected) in [
        ("x api key", "v", "not an HTTP header name"),
        ("x-api-key", "v\r\nInjected: 1", "line break or NUL"),
    ] {
        let err = ConfigSource::new()
            .with_env_vars(Vec::<(String, String)>::new())
            .with_defaults(
                "defaults",
                format!(
                    "platform:\n  tracing:\n    otlp:\n      headers:\n        {name:?}: {value:?}\n"
                ),
            )
            .load()
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{err}");
        assert!(
            !err.contains("Injected"),
            "the secret value was shown: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_rewritten_within_one_clock_tick_is_still_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "app.yaml", "app:\n  n: 1\n");
    let manager =
        Arc::new(ConfigurationManager::load(ConfigSource::new().with_file(&file)).unwrap());
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
    // An edit of the same length whose time the file system's clock did not move: the
    // modification time alone cannot tell it.
    std::fs::write(&file, "app:\n  n: 2\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let cancel = plba_contracts::CancellationToken::new();
    let watch = manager
        .spawn_file_watch(std::time::Duration::from_millis(20), cancel.clone())
        .unwrap();
    plba_testkit::wait::eventually(
        std::time::Duration::from_secs(10),
        "the rewritten file reloaded",
        || manager.current().generation() >= 1,
    )
    .await;
    let app: serde_json::Value = manager.current().section("app").unwrap().unwrap();
    assert_eq!(app["n"], 2);
    cancel.cancel();
    watch.await.unwrap();
}

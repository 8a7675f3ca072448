//! The shipped configurations decode into the module's configuration type, and a mistake
//! anywhere in the section names its full key, its file and line, and never a secret.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use mail_order_bot::{AppConfig, StoreConfig};
use plba_config::ConfigSource;

fn load(yaml_path: &str) -> AppConfig {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(yaml_path);
    let snapshot = ConfigSource::new()
        .with_file(&path)
        .with_env_vars(Vec::<(String, String)>::new())
        .load()
        .unwrap();
    AppConfig::from_config(&snapshot).unwrap().unwrap()
}

#[test]
fn the_example_configuration_spells_out_the_defaults() {
    assert_eq!(
        load("../../deploy/mail_order_bot.example.yaml"),
        AppConfig::default()
    );
}

#[test]
fn the_embedded_default_configuration_is_valid() {
    let config = load("config/default.yaml");
    assert!(config.seed_samples);
    assert_eq!(config.customers.len(), 2);
}

#[test]
fn a_typo_in_the_section_is_an_error_naming_the_key() {
    let snapshot = ConfigSource::new()
        .with_env_vars(Vec::<(String, String)>::new())
        .with_override("mail_order_bot.worker=5")
        .load()
        .unwrap();
    let err = AppConfig::from_config(&snapshot).unwrap_err();
    assert!(
        err.to_string()
            .contains("`mail_order_bot.worker` (from --set mail_order_bot.worker)"),
        "{err}"
    );
}

/// Writes `yaml` to a file in a fresh directory and reads the section from it.
fn refusal_of(yaml: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot.yaml");
    std::fs::write(&path, yaml).unwrap();
    let snapshot = ConfigSource::new()
        .with_file(&path)
        .with_env_vars(Vec::<(String, String)>::new())
        .load()
        .unwrap();
    let error = AppConfig::from_config(&snapshot).unwrap_err().to_string();
    (error, path.display().to_string())
}

#[test]
fn a_mistake_inside_a_tagged_section_names_the_full_key_file_and_line() {
    let cases = [
        (
            "mail_order_bot:\n  source:\n    kind: imap_poll\n    host: mail.example\n    port: abc\n    user: orders\n",
            "mail_order_bot.source.port",
            5,
        ),
        (
            "mail_order_bot:\n  workers: 2\n  queue:\n    kind: redis\n    url: redis://127.0.0.1:6379\n    max_attempts: many\n",
            "mail_order_bot.queue.max_attempts",
            6,
        ),
        (
            "mail_order_bot:\n  queue:\n    capacity: [1]\n",
            "mail_order_bot.queue.capacity",
            3,
        ),
        (
            "mail_order_bot:\n  source:\n    kind: imap_idle\n    host: mail.example\n    port: 993\n    usr: orders\n",
            "mail_order_bot.source.usr",
            6,
        ),
    ];
    for (yaml, key, line) in cases {
        let (error, path) = refusal_of(yaml);
        assert!(
            error.starts_with(&format!(
                "invalid configuration at `{key}` (from file {path} line {line}): "
            )),
            "{yaml:?}: {error}"
        );
    }
}

#[test]
fn a_secret_inside_a_tagged_section_is_never_shown_in_an_error() {
    let (error, path) = refusal_of(
        "mail_order_bot:\n  source:\n    kind: imap_poll\n    host: mail.example\n    port: 993\n    user: orders\n    password: [314159]\n",
    );
    assert_eq!(
        error,
        format!(
            "invalid configuration at `mail_order_bot.source.password` (from file {path} line 7): invalid value (not shown: the key holds a secret)"
        )
    );
}

#[test]
fn the_imap_example_configuration_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("imap-password");
    std::fs::write(&password, "s3cret\n").unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/mail_order_bot.imap.example.yaml");
    let snapshot = ConfigSource::new()
        .with_file(&path)
        .with_env_vars(Vec::<(String, String)>::new())
        .with_override(format!(
            "mail_order_bot.source.password_file={}",
            password.display()
        ))
        .load()
        .unwrap();
    let config = AppConfig::from_config(&snapshot).unwrap().unwrap();
    let mail_order_bot::SourceConfig::ImapIdle { imap } = config.source else {
        panic!("the example uses imap_idle");
    };
    assert_eq!(imap.password.expose(), "s3cret");
    assert_eq!(imap.security, plba_mail_imap::Security::Tls);
    assert!(!snapshot.redacted_yaml().contains("s3cret"));
}

#[test]
fn the_kubernetes_example_embeds_a_valid_configuration_and_probes_the_control_plane() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/kubernetes/mail_order_bot.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let config_map = text.split("\n---\n").next().unwrap();
    let embedded = config_map.split("config.yaml: |\n").nth(1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The secrets the manifest mounts, as files in a temporary directory.
    for (name, secret) in [
        ("control-token", "control-token-0123456789"),
        ("imap-password", "x"),
        ("oidc-client-secret", "the-client-secret"),
    ] {
        std::fs::write(dir.path().join(name), format!("{secret}\n")).unwrap();
    }
    let yaml: String = embedded
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            "/etc/mail_order_bot/secrets",
            &dir.path().display().to_string(),
        );
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, yaml).unwrap();
    let source = ConfigSource::new()
        .with_file(&file)
        .with_env_vars(Vec::<(String, String)>::new());
    let snapshot = source.load().unwrap();
    AppConfig::from_config(&snapshot).unwrap().unwrap();
    assert_eq!(snapshot.platform().control.bind, "0.0.0.0:9090");
    assert!(text.contains("path: /health/live") && text.contains("path: /health/ready"));
}

/// The store section is tagged by `kind` as the source and the queue are; a key of the
/// other kind is ignored, as when the section was one struct: the embedded configuration's
/// store (a `sqlite_path`, no `kind`) switched to PostgreSQL from the environment merges
/// into one map holding both kinds' keys, and loads; the password stays secret.
#[cfg(feature = "postgres")]
#[test]
fn the_environment_switches_a_sqlite_store_to_postgres() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.yaml");
    let snapshot = ConfigSource::new()
        .with_file(&path)
        .with_env_vars([
            ("PLBA__MAIL_ORDER_BOT__STORE__KIND", "postgres"),
            (
                "PLBA__MAIL_ORDER_BOT__STORE__URL",
                "postgres://mail_order_bot@db.example:5432/orders",
            ),
            ("PLBA__MAIL_ORDER_BOT__STORE__PASSWORD", "s3cret"),
        ])
        .load()
        .unwrap();
    let config = AppConfig::from_config(&snapshot).unwrap().unwrap();
    let StoreConfig::Postgres { postgres } = &config.store else {
        panic!("the environment names postgres: {:?}", config.store);
    };
    assert_eq!(
        postgres.url.as_deref(),
        Some("postgres://mail_order_bot@db.example:5432/orders")
    );
    assert_eq!(
        postgres.password.as_ref().map(|p| p.expose().as_str()),
        Some("s3cret")
    );
    assert_eq!(postgres.pool_size, 8);
    config.store.check().unwrap();
    assert!(!snapshot.redacted_yaml().contains("s3cret"));
}

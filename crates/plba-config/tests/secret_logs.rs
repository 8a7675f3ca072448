//! A secret given by file: used, and never printed — in the dump, in an error, or in the
//! log lines a load and a rejected reload write.
//!
//! Alone in its test binary: it captures the log lines of the configuration's own code
//! with a subscriber of this thread, and a log site that another test's thread reaches
//! first, while this subscriber is being made, can keep the interest it had without it
//! (nothing logged here; one run in seven did so beside the other configuration tests).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::io::Write as _;

use plba_config::{ConfigSource, ConfigurationManager};
use plba_contracts::Secret;
use plba_testkit::logs::CapturedLogs;
use serde::Deserialize;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[derive(Debug, Deserialize)]
struct Mailbox {
    user: String,
    password: Secret<String>,
}

#[test]
fn a_secret_from_a_file_is_used_but_never_printed() {
    const SECRET: &str = "s3cr3t-Pa55";
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("imap-password");
    let mut f = std::fs::File::create(&secret_file).unwrap();
    writeln!(f, "{SECRET}").unwrap();
    let file = write(
        &dir,
        "app.yaml",
        &format!(
            "mailbox:\n  user: orders\n  password_file: {}\nlog:\n  level: debug\n",
            secret_file.display()
        ),
    );
    let logs = CapturedLogs::new();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let manager = ConfigurationManager::load(ConfigSource::new().with_file(&file)).unwrap();
        let snapshot = manager.current();
        let mailbox: Mailbox = snapshot.section("mailbox").unwrap().unwrap();
        assert_eq!(mailbox.user, "orders");
        assert_eq!(
            mailbox.password.expose(),
            SECRET,
            "used, without the trailing newline"
        );
        assert_eq!(
            snapshot.origin_of("mailbox.password"),
            Some(format!(
                "file {} (via `mailbox.password_file`)",
                secret_file.display()
            ))
        );

        let dump = snapshot.redacted_yaml();
        assert!(dump.contains("password: '[redacted]'"), "{dump}");
        assert!(!dump.contains(SECRET));
        assert!(!format!("{snapshot:?} {mailbox:?}").contains(SECRET));

        // A type error on the secret must not echo it either.
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Numeric {
            password: u64,
        }
        let err = snapshot.section::<Numeric>("mailbox").unwrap_err();
        assert!(err.to_string().contains("`mailbox.password`"), "{err}");
        assert!(!err.to_string().contains(SECRET), "{err}");

        // Reloads log what happened, never the values.
        std::fs::write(&file, "mailbox: [unclosed\n").unwrap();
        assert!(manager.reload().is_err());
        tracing::info!(config = ?manager.current(), "effective configuration");
    });
    let logged = logs.text();
    assert!(logged.contains("reload rejected"), "{logged}");
    assert!(logged.contains("[redacted]"), "{logged}");
    assert!(!logged.contains(SECRET), "{logged}");
}

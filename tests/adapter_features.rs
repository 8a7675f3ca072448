//! Adapters are picked per deployment, at compile time: the smallest mail_order_bot
//! (Maildir source, SQLite store) links no Redis, IMAP, TLS or PostgreSQL code, and the
//! default build still links every adapter. Read from `cargo tree`, offline.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::collections::BTreeSet;

/// The crates in the launcher's normal dependency tree (its own included) with `features`
/// on top of no default features, or with the default features when `None`.
fn linked_crates(features: Option<&str>) -> BTreeSet<String> {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut args = vec!["tree", "-p", "mail_order_bot_launcher"];
    if let Some(features) = features {
        args.extend(["--no-default-features", "--features", features]);
    }
    args.extend(["-e", "normal", "--prefix", "none", "--offline"]);
    let output = std::process::Command::new(env!("CARGO"))
        .args(&args)
        .current_dir(workspace)
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// A crate the minimal bot must not link: Redis, IMAP, TLS, or a PostgreSQL driver.
fn forbidden(name: &str) -> bool {
    matches!(
        name,
        "redis" | "plba-redis" | "async-imap" | "imap-proto" | "plba-mail-imap"
    ) || name.contains("rustls")
        || name.contains("postgres")
        || name == "pq-sys"
}

#[test]
fn the_maildir_sqlite_bot_links_no_redis_imap_tls_or_postgres() {
    let linked = linked_crates(Some("maildir,sqlite"));
    // Guard against a vacuous pass: what the bot does need is there.
    for needed in [
        "mail_order_bot_launcher",
        "mail_order_bot",
        "plba-mail-maildir",
        "sqlx-sqlite",
    ] {
        assert!(linked.contains(needed), "{needed} missing from {linked:?}");
    }
    let unwanted: Vec<&String> = linked.iter().filter(|name| forbidden(name)).collect();
    assert!(
        unwanted.is_empty(),
        "the maildir,sqlite build links {unwanted:?}"
    );
}

#[test]
fn the_default_bot_links_every_adapter() {
    // The same reading sees the adapters when they are built, so the test above would
    // notice them.
    let linked = linked_crates(None);
    for adapter in [
        "plba-mail-maildir",
        "plba-mail-imap",
        "async-imap",
        "tokio-rustls",
        "rustls",
        "plba-redis",
        "redis",
        "sqlx-sqlite",
    ] {
        assert!(
            linked.contains(adapter),
            "{adapter} missing from {linked:?}"
        );
    }
}

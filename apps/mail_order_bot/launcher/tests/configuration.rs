//! Configuration mistakes as an operator makes them, caught by the binary before they bite:
//! `check-config` and `run` refuse the same files with the same message naming the file, the
//! line and the key; the allowlist is exactly what the operator wrote.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use plba_testkit::mail::MailBuilder;
use plba_testkit::process::wait_until;
use support::{DEADLINE, cli, cli_ok, control_addr, listed, run_to_exit, start_bot, text};

/// Writes `yaml` as `bot.yaml` in a fresh directory.
fn file(yaml: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot.yaml");
    std::fs::write(&path, yaml).unwrap();
    (dir, path.display().to_string())
}

#[test]
fn check_config_and_run_refuse_the_same_mistakes_naming_file_line_and_key() {
    let cases = [
        (
            "mail_order_bot:\n  workers: 0\n",
            "`mail_order_bot.workers`",
            2,
        ),
        (
            "mail_order_bot:\n  workers: 100000\n",
            "`mail_order_bot.workers`",
            2,
        ),
        (
            "mail_order_bot:\n  queue:\n    kind: memory\n    capacity: 0\n",
            "`mail_order_bot.queue.capacity`",
            4,
        ),
        (
            "mail_order_bot:\n  queue:\n    max_attempts: 0\n",
            "`mail_order_bot.queue.max_attempts`",
            3,
        ),
        (
            "platform:\n  control:\n    bind: localhost:19106\n",
            "`platform.control.bind`",
            3,
        ),
        (
            "platform:\n  control:\n    bind: 127.0.0.1:99999\n",
            "`platform.control.bind`",
            3,
        ),
        ("mail_order_bto:\n  workers: 2\n", "`mail_order_bto`", 1),
        (
            "mail_order_bot:\n  store:\n    sqlite_path: \":memory:\"\n",
            "`mail_order_bot.store.sqlite_path`",
            3,
        ),
        (
            "mail_order_bot:\n  source:\n    kind: maildir\n    rejected_folder: ../../etc\n",
            "`mail_order_bot.source.rejected_folder`",
            4,
        ),
        (
            "mail_order_bot:\n  source:\n    path: /etc/passwd\n",
            "`mail_order_bot.source.path`",
            3,
        ),
        (
            "mail_order_bot:\n  source:\n    kind: maildir\n    max_message_bytes: -1\n",
            "`mail_order_bot.source.max_message_bytes`",
            4,
        ),
        (
            "platform:\n  control:\n    tokens:\n      - name: ops\n        token: t\n        role: superuser\n",
            "`platform.control.tokens[0].role`",
            6,
        ),
        (
            "mail_order_bot:\n  summary:\n    schedule: \"0 0 25 * * *\"\n",
            "`mail_order_bot.summary.schedule`",
            3,
        ),
        (
            "mail_order_bot:\n  summary:\n    time_zone: Mars/Olympus\n",
            "`mail_order_bot.summary.time_zone`",
            3,
        ),
    ];
    for (yaml, key, line) in cases {
        let (dir, path) = file(yaml);
        let checked = cli(dir.path(), &["--config", &path, "check-config"], &[]);
        let (ran, ran_log) = run_to_exit(dir.path(), &["--config", &path, "run"], &[], "run.log");
        for (what, success, error) in [
            (
                "check-config",
                checked.status.success(),
                text(&checked.stderr),
            ),
            ("run", ran.success(), ran_log.clone()),
        ] {
            assert!(!success, "{what} accepted {yaml:?}");
            assert!(
                error.contains(key) && error.contains(&format!("{path} line {line}")),
                "{what} on {yaml:?} should name {key} at line {line}: {error}"
            );
            assert_eq!(
                error.matches(key).count(),
                1,
                "{what}: the message says it once: {error}"
            );
            assert!(!error.contains("panicked"), "{error}");
        }
        assert_eq!(text(&checked.stderr), ran_log, "one validation for both");
    }
    let (dir, path) = file(
        "platform:\n  control:\n    tokens:\n      - name: ops\n        token: t\n        role: superuser\n",
    );
    let error = text(&cli(dir.path(), &["--config", &path, "check-config"], &[]).stderr);
    assert!(
        error.contains("`viewer`, `operator`, `admin`"),
        "allowed roles named: {error}"
    );
}

#[test]
fn a_secret_written_in_the_file_is_warned_about_and_never_printed() {
    let (dir, path) = file(
        "mail_order_bot:\n  source:\n    kind: imap_poll\n    host: imap.example.com\n    port: 993\n    user: orders\n    password: hunter2\n",
    );
    let checked = cli(dir.path(), &["--config", &path, "check-config"], &[]);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    let warning = text(&checked.stderr);
    assert!(
        warning.contains("`mail_order_bot.source.password` is written inline")
            && warning.contains("password_file"),
        "{warning}"
    );
    assert!(!text(&checked.stdout).contains("hunter2"));
    assert!(!warning.contains("hunter2"));
}

#[test]
fn switching_the_source_kind_never_inherits_the_other_kinds_keys() {
    // The file relies on the default kind (maildir); the environment switches to IMAP.
    let (dir, path) = file("mail_order_bot:\n  source:\n    path: /srv/mail/Maildir\n");
    let password = dir.path().join("pw");
    std::fs::write(&password, "s3cret\n").unwrap();
    let env = [
        ("PLBA__MAIL_ORDER_BOT__SOURCE__KIND", "imap_idle".to_owned()),
        (
            "PLBA__MAIL_ORDER_BOT__SOURCE__HOST",
            "imap.example.com".to_owned(),
        ),
        ("PLBA__MAIL_ORDER_BOT__SOURCE__PORT", "993".to_owned()),
        ("PLBA__MAIL_ORDER_BOT__SOURCE__USER", "orders".to_owned()),
        (
            "PLBA__MAIL_ORDER_BOT__SOURCE__PASSWORD_FILE",
            password.display().to_string(),
        ),
    ];
    let out = cli_ok(dir.path(), &["--config", &path, "check-config"], &env);
    let config: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
    let source = &config["mail_order_bot"]["source"];
    assert_eq!(source["kind"], "imap_idle", "{out}");
    assert!(
        source.get("path").is_none(),
        "the Maildir path leaked: {out}"
    );
}

#[test]
fn configuring_the_bot_without_a_file_leaves_the_demo_out() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli_ok(
        dir.path(),
        &[
            "check-config",
            "--set",
            "mail_order_bot.source.path=mail/Maildir",
        ],
        &[],
    );
    assert!(
        out.contains("none configured: every mail will be rejected"),
        "no demo customers: {out}"
    );
    let config: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
    assert!(
        config["mail_order_bot"].get("seed_samples").is_none(),
        "{out}"
    );
    // Without anything, the demo runs, as the README's first command shows.
    let demo = cli_ok(dir.path(), &["check-config"], &[]);
    assert!(
        demo.contains("from the embedded demo configuration"),
        "{demo}"
    );
}

#[test]
fn the_allowlist_is_exactly_the_files() {
    let (dir, path) = file(&format!(
        "platform:\n  control:\n    bind: {}\nmail_order_bot:\n  source:\n    kind: maildir\n    path: data/Maildir\n    rescan_interval_ms: 100\n  customers:\n    \"buyer@realcustomer.example\": REAL\n",
        control_addr()
    ));
    let checked = cli_ok(dir.path(), &["--config", &path, "check-config"], &[]);
    let allowlist: Vec<&str> = checked
        .lines()
        .filter_map(|l| l.strip_prefix("#   "))
        .collect();
    assert_eq!(
        allowlist,
        ["buyer@realcustomer.example -> REAL"],
        "{checked}"
    );
    let config: serde_yaml::Value = serde_yaml::from_str(&checked).unwrap();
    let customers = config["mail_order_bot"]["customers"].as_mapping().unwrap();
    assert_eq!(customers.len(), 1, "{checked}");

    // What the demo configuration would have let in is refused; the file's customer orders.
    let csv = b"sku,quantity\nA-1,2\n";
    let from_demo = MailBuilder::new("orders@acme.example", "<demo@x>")
        .attachment("o.csv", "text/csv", csv)
        .build();
    let from_file = MailBuilder::new("buyer@realcustomer.example", "<real@x>")
        .attachment("o.csv", "text/csv", csv)
        .build();
    let mails = dir.path().join("mails");
    std::fs::create_dir(&mails).unwrap();
    std::fs::write(mails.join("demo.eml"), from_demo).unwrap();
    std::fs::write(mails.join("real.eml"), from_file).unwrap();
    cli_ok(
        dir.path(),
        &[
            "--config",
            &path,
            "deliver",
            "mails/demo.eml",
            "mails/real.eml",
        ],
        &[],
    );
    let bot = start_bot(dir.path(), &["--config", &path, "run"], &[]);
    let cur = dir.path().join("data/Maildir/cur");
    wait_until(DEADLINE, "both mails completed", || {
        std::fs::read_dir(&cur).is_ok_and(|d| d.count() == 2)
    });
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "{log}");
    let args = ["--config", path.as_str()];
    let orders = listed(dir.path(), "orders", &args, &[]);
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["customer_id"], "REAL", "{orders:?}");
    let rejections = listed(dir.path(), "rejections", &args, &[]);
    assert_eq!(rejections.len(), 1);
    assert!(
        rejections[0].to_string().contains("unknown sender"),
        "{rejections:?}"
    );
}

#[test]
fn single_sign_on_mistakes_are_refused_before_anyone_signs_in() {
    let example =
        std::fs::read_to_string(support::repo_file("deploy/mail_order_bot.sso.example.yaml"))
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("oidc-secret");
    std::fs::write(&secret, "the-client-secret\n").unwrap();
    let shipped = example.replace(
        "/run/secrets/mail-order-bot-oidc",
        &secret.display().to_string(),
    );
    let path = dir.path().join("bot.yaml");
    let check = |yaml: &str| {
        std::fs::write(&path, yaml).unwrap();
        cli(
            dir.path(),
            &["--config", &path.display().to_string(), "check-config"],
            &[],
        )
    };
    let accepted = check(&shipped);
    assert!(accepted.status.success(), "{}", text(&accepted.stderr));
    let cases = [
        (
            shipped.replace("https://id.example.com", "http://id.example.com"),
            ["platform.control.oidc.issuer", "must be https"],
        ),
        (
            shipped.replace(&secret.display().to_string(), "/nonexistent/oidc-secret"),
            [
                "platform.control.oidc.client_secret",
                "/nonexistent/oidc-secret",
            ],
        ),
        (
            shipped.replace(
                "mail-order-bot-viewers: viewer",
                "mail-order-bot-viewers: superuser",
            ),
            ["superuser", "`viewer`, `operator`, `admin`"],
        ),
        (
            shipped.replace(
                "    users:\n      kind: sqlite\n      path: data/users.db\n",
                "",
            ),
            ["platform.control.oidc", "needs platform.control.users"],
        ),
        (
            shipped.replace("/ui/oidc/callback", "/callback"),
            ["platform.control.oidc.redirect_url", "/ui/oidc/callback"],
        ),
    ];
    for (yaml, expected) in cases {
        let refused = check(&yaml);
        let error = text(&refused.stderr);
        assert!(!refused.status.success(), "accepted: {yaml}");
        for part in expected {
            assert!(error.contains(part), "{part:?} not in: {error}");
        }
        assert!(
            !error.contains("panicked") && !error.contains("the-client-secret"),
            "{error}"
        );
    }
}

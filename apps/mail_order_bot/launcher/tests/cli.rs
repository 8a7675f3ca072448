//! The `mail_order_bot` binary as an operator uses it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use plba_testkit::process::wait_until;

const BIN: &str = env!("CARGO_BIN_EXE_mail_order_bot");

fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("MAIL_ORDER_BOT_CONFIG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_config_prints_the_effective_configuration_or_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ok = run_in(dir.path(), &["check-config"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let printed = text(&ok.stdout);
    assert!(printed.contains("sqlite_path: data/orders.db"), "{printed}");

    let bad = run_in(
        dir.path(),
        &["check-config", "--set", "mail_order_bot.workers=lots"],
    );
    assert!(!bad.status.success());
    let error = text(&bad.stderr);
    assert!(
        error.contains("`mail_order_bot.workers` (from --set mail_order_bot.workers)"),
        "{error}"
    );
    assert!(!error.contains("panicked"), "{error}");

    let missing = run_in(dir.path(), &["--config", "nope.yaml", "check-config"]);
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("cannot read configuration file nope.yaml"));
}

#[test]
fn the_embedded_default_processes_the_samples_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let bot = Command::new(BIN)
        .args([
            "run",
            "--set",
            "platform.control.bind=127.0.0.1:0",
            "--set",
            "log.level=warn",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let cur = dir.path().join("data/Maildir/cur");
    wait_until(Duration::from_secs(60), "eight samples completed", || {
        std::fs::read_dir(&cur)
            .map(|d| d.count() == 8)
            .unwrap_or(false)
    });
    let killed = Command::new("kill")
        .args(["-TERM", &bot.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = bot.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        text(&output.stderr)
    );

    let listed = run_in(dir.path(), &["orders", "list", "--json"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let orders: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(orders.as_array().unwrap().len(), 4);
    let rejected = run_in(dir.path(), &["rejections", "list", "--json"]);
    let rejections: serde_json::Value = serde_json::from_slice(&rejected.stdout).unwrap();
    assert_eq!(rejections.as_array().unwrap().len(), 3);
    let shown = run_in(dir.path(), &["orders", "show", "1"]);
    assert!(
        text(&shown.stdout).contains("total quantity"),
        "{}",
        text(&shown.stdout)
    );
    assert!(
        !run_in(dir.path(), &["orders", "show", "999"])
            .status
            .success()
    );
    // Piped into a reader that has gone away (`| head -1` that read its line): a quiet end
    // with the status of a tool killed by SIGPIPE.
    for args in [
        &["orders", "list"][..],
        &["rejections", "list"],
        &["orders", "show", "1"],
        &["check-config"],
    ] {
        let cut = run_with_reader_gone(dir.path(), args);
        let stderr = text(&cut.stderr);
        assert!(
            cut.status.code() == Some(141) && stderr.is_empty(),
            "{args:?}: exit {:?}: {stderr}",
            cut.status
        );
    }
    // A command that works as it reports: every file is delivered all the same.
    let new = dir.path().join("data/Maildir/new");
    let before = std::fs::read_dir(&new).unwrap().count();
    let files: Vec<String> = (0..3)
        .map(|n| {
            let file = dir.path().join(format!("cut-{n}.eml"));
            std::fs::write(&file, format!("Message-ID: <cut-{n}@x>\r\n\r\nhello\r\n")).unwrap();
            file.display().to_string()
        })
        .collect();
    let mut args = vec!["deliver"];
    args.extend(files.iter().map(String::as_str));
    let cut = run_with_reader_gone(dir.path(), &args);
    assert!(cut.status.success(), "{}", text(&cut.stderr));
    assert_eq!(std::fs::read_dir(&new).unwrap().count(), before + 3);
}

/// `args` run with standard output a pipe whose reading end is already closed.
fn run_with_reader_gone(dir: &Path, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("MAIL_ORDER_BOT_CONFIG")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

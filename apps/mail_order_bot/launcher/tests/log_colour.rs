//! Log lines carry colour codes only for a terminal, and not even there under `NO_COLOR`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::path::Path;
use std::process::Command;

use plba_testkit::process::{AppProcess, http_post, wait_until};
use support::{BIN, DEADLINE, control_addr};

/// Runs the bot on a pseudo-terminal (util-linux `script`), waits for its start-up lines,
/// shuts it down through the control plane and returns what the terminal showed.
fn terminal_output(dir: &Path, no_color: bool) -> String {
    let addr = control_addr();
    let token = dir.join("token");
    std::fs::write(&token, "admin-token-0123456789").unwrap();
    let config = dir.join("bot.yaml");
    std::fs::write(
        &config,
        format!(
            "platform:\n  control:\n    bind: {addr}\n    tokens:\n      - name: t\n        token_file: {}\n        role: admin\n",
            token.display()
        ),
    )
    .unwrap();
    let screen = dir.join("screen");
    let mut command = Command::new("script");
    command
        .args(["-qfec"])
        .arg(format!("{BIN} --config {} run", config.display()))
        .arg(&screen)
        .current_dir(dir)
        .env_remove("NO_COLOR");
    if no_color {
        command.env("NO_COLOR", "1");
    }
    let mut terminal = AppProcess::spawn(command, &dir.join("script.log"));
    wait_until(DEADLINE, "the bot running on the terminal", || {
        std::fs::read_to_string(&screen).is_ok_and(|s| s.contains("workers started"))
    });
    assert_eq!(
        http_post(addr, "/actions/shutdown", "admin-token-0123456789")
            .unwrap()
            .status,
        202
    );
    wait_until(DEADLINE, "the bot to exit", || terminal.exited().is_some());
    std::fs::read_to_string(&screen).unwrap()
}

#[test]
fn colour_only_on_a_terminal_and_never_under_no_color() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a")).unwrap();
    std::fs::create_dir(dir.path().join("b")).unwrap();
    let coloured = terminal_output(&dir.path().join("a"), false);
    assert!(
        coloured.contains("\u{1b}["),
        "a terminal gets colour:\n{coloured}"
    );
    let plain = terminal_output(&dir.path().join("b"), true);
    assert!(plain.contains("workers started"));
    assert!(!plain.contains("\u{1b}["), "NO_COLOR is honoured:\n{plain}");
    // A file or a pipe: tests/deploy_files.rs checks the log files of every run.
}

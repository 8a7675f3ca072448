//! Terminal escapes a sender puts in a mail (a Message-ID, an attachment's file name, the
//! reason quoting them) never reach the operator's terminal or the text log raw: `orders
//! list`, `orders show` and `rejections list` print them escaped, the log line of each
//! outcome too, while `--json` keeps the exact text.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use plba_testkit::mail::MailBuilder;
use plba_testkit::process::wait_until;
use support::{
    DEADLINE, cli_ok, control_addr, example_with_customers, listed, start_bot, wait_ready,
};

/// OSC 0 (sets the window title) and CSI 2J (clears the screen).
const TITLE: &str = "\u{1b}]0;owned\u{7}";
const CLEAR: &str = "\u{1b}[2J";

#[test]
fn what_a_sender_controls_is_printed_escaped_and_kept_exact_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let addr = control_addr();
    let text = example_with_customers("    \"@acme.example\": ACME\n")
        .replace("    bind: 127.0.0.1:9090", &format!("    bind: {addr}"));
    let config = dir.path().join("bot.yaml");
    std::fs::write(&config, text).unwrap();
    let config = config.display().to_string();
    let bot = start_bot(dir.path(), &["--config", &config, "run"], &[]);
    wait_ready(&bot, addr);

    let maildir = dir.path().join("data/Maildir/new");
    let order = MailBuilder::new("orders@acme.example", &format!("<{CLEAR}order@x>"))
        .attachment(
            &format!("o{TITLE}.csv"),
            "text/csv",
            b"sku,quantity\nA-1,2\n",
        )
        .build();
    std::fs::write(maildir.join("order"), order).unwrap();
    let stranger = MailBuilder::new("stranger@example.org", &format!("<{TITLE}stranger@x>"))
        .attachment("o.csv", "text/csv", b"sku,quantity\nA-1,2\n")
        .build();
    std::fs::write(maildir.join("stranger"), stranger).unwrap();
    let args = ["--config", config.as_str()];
    wait_until(DEADLINE, "the order and the rejection stored", || {
        listed(dir.path(), "orders", &args, &[]).len() == 1
            && listed(dir.path(), "rejections", &args, &[]).len() == 1
    });

    // JSON is exact: the escapes are there, as JSON escapes them.
    let orders = listed(dir.path(), "orders", &args, &[]);
    assert_eq!(orders[0]["message_id"], format!("{CLEAR}order@x"));
    let id = orders[0]["id"].to_string();
    for command in [
        vec!["orders", "list", "--config", &config],
        vec!["orders", "show", &id, "--config", &config],
        vec!["rejections", "list", "--config", &config],
    ] {
        let shown = cli_ok(dir.path(), &command, &[]);
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
            "{command:?} prints a raw escape: {shown:?}"
        );
        assert!(
            shown.contains("\\u{1b}"),
            "{command:?} shows the escape: {shown}"
        );
    }
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
    assert!(
        log.contains("order@x") && !log.contains('\u{1b}'),
        "the log quotes the mail without its raw escapes:\n{log:?}"
    );
}

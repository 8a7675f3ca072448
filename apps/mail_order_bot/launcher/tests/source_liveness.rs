//! A mail source that runs but no longer reads mail is caught: the shipped Maildir example
//! (with `source_stale_after_ms` set by `--set`) exports its source's cycles, published
//! mails and last success in `/metrics`; when the Maildir cannot be read any more, the bot
//! turns not ready with the reason, and ready again once the Maildir is back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use plba_testkit::process::{http_get, wait_until};
use support::{
    DEADLINE, control_addr, deliver_orders, example_with_customers, listed, metric, start_bot,
    wait_ready,
};

#[test]
fn a_source_that_stops_reading_mail_turns_the_bot_unready_until_it_reads_again() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bot.yaml");
    std::fs::write(
        &config,
        example_with_customers("    \"@acme.example\": ACME\n"),
    )
    .unwrap();
    let config = config.display().to_string();
    let addr = control_addr();
    let env = [("PLBA__PLATFORM__CONTROL__BIND", addr.to_string())];
    let bot = start_bot(
        dir.path(),
        &[
            "--config",
            &config,
            "--set",
            "mail_order_bot.source_stale_after_ms=1500",
            "run",
        ],
        &env,
    );
    wait_ready(&bot, addr);
    let maildir = dir.path().join("data/Maildir");
    deliver_orders(&maildir, 3, "alive");
    let list = ["--config", config.as_str()];
    wait_until(DEADLINE, "three orders", || {
        listed(dir.path(), "orders", &list, &env).len() == 3
    });
    let metrics = http_get(addr, "/metrics").unwrap().body;
    assert!(
        metric(&metrics, "plba_mail_source_cycles_total") >= 1.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "plba_mail_source_published_total") >= 3.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "plba_mail_source_last_success_timestamp_seconds") > 1.7e9,
        "{metrics}"
    );
    assert!(
        metrics.contains("plba_mail_oldest_unprocessed_seconds"),
        "{metrics}"
    );

    // new/ replaced by a file: every scan fails from now on.
    let new = maildir.join("new");
    std::fs::rename(&new, maildir.join("new.away")).unwrap();
    std::fs::write(&new, "not a directory").unwrap();
    wait_until(DEADLINE, "the bot not ready", || {
        http_get(addr, "/health/ready").is_ok_and(|r| r.status == 503)
    });
    let health = http_get(addr, "/health").unwrap().body;
    assert!(health.contains("no successful scan"), "{health}");

    std::fs::remove_file(&new).unwrap();
    std::fs::rename(maildir.join("new.away"), &new).unwrap();
    wait_until(DEADLINE, "the bot ready again", || {
        http_get(addr, "/health/ready").is_ok_and(|r| r.status == 200)
    });
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
}

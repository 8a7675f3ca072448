//! With `imap_idle`, a mail that arrives at any moment is processed within about a second
//! while the connection is healthy, whatever the poll interval: right after a batch, during a
//! scan, between a scan and the next IDLE, after a quiet spell longer than the poll interval
//! (across the point where IDLE is re-issued). The poll interval here is 20 s and each mail
//! must be done 5 s after it arrived, so a missed wake-up fails the test instead of being
//! rescued by a poll.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::time::{Duration, Instant};

use plba_testkit::mail::MailBuilder;
use plba_testkit::process::wait_until;
use plba_testkit::servers::{Dovecot, IMAP_USER};
use support::{control_addr, start_bot, wait_ready};

/// The poll interval the bot runs with.
const POLL_INTERVAL: Duration = Duration::from_secs(20);

/// From a mail's arrival to its completion: far below the poll interval, so only IDLE can
/// meet it, and with room for a loaded machine.
const WAKE_DEADLINE: Duration = Duration::from_secs(5);

fn order(n: usize) -> Vec<u8> {
    MailBuilder::new("orders@acme.example", &format!("<idle-{n}@test>"))
        .attachment("o.csv", "text/csv", b"sku,quantity\nA-1,1\n")
        .build()
}

#[test]
fn idle_wakes_for_mail_arriving_at_the_worst_moments() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("pw");
    std::fs::write(&password, IMAP_USER.1).unwrap();
    let addr = control_addr();
    let config = dir.path().join("bot.yaml");
    std::fs::write(
        &config,
        format!(
            "platform:\n  control:\n    bind: {addr}\nmail_order_bot:\n  source:\n    kind: imap_idle\n    host: 127.0.0.1\n    port: {}\n    security: plain\n    user: {}\n    password_file: {}\n    poll_interval_ms: {}\n  customers:\n    \"@acme.example\": ACME\n",
            dovecot.port(),
            IMAP_USER.0,
            password.display(),
            POLL_INTERVAL.as_millis()
        ),
    )
    .unwrap();
    let path = config.display().to_string();
    let bot = start_bot(dir.path(), &["--config", &path, "run"], &[]);
    wait_ready(&bot, addr);

    let mut sent = 0;
    // Appends `count` mails, `gap` apart; returns how many were sent and when the last arrived.
    let mut send = |count: usize, gap: Duration| {
        let mut last = Instant::now();
        for i in 0..count {
            if i > 0 && !gap.is_zero() {
                std::thread::sleep(gap);
            }
            sent += 1;
            dovecot.append("INBOX", &order(sent));
            last = Instant::now();
        }
        (sent, last)
    };
    // Waits until every mail so far is seen, at most WAKE_DEADLINE after the last arrived.
    let all_seen = |(total, arrived): (usize, Instant), moment: &str| {
        let left = WAKE_DEADLINE.saturating_sub(arrived.elapsed());
        wait_until(left, moment, || {
            dovecot.message_counts("INBOX") == Some((total as u64, 0))
        });
    };

    // A first batch, then one mail right after the batch completed.
    all_seen(send(5, Duration::ZERO), "the first batch");
    all_seen(
        send(1, Duration::ZERO),
        "a mail right after a batch completed",
    );
    // Mail arriving while the source scans and publishes: the first APPEND wakes IDLE, the
    // next ones land during the scan it starts or between that scan and the next IDLE. The
    // gap shifts the later ones across that window from round to round.
    for round in 0..12u64 {
        all_seen(
            send(3, Duration::from_millis(round * 7)),
            &format!("mail during and after a scan (round {round})"),
        );
    }
    // A quiet spell longer than the poll interval: the source re-issues IDLE on its own in
    // between, and one mail must still wake it.
    std::thread::sleep(POLL_INTERVAL + Duration::from_secs(1));
    all_seen(send(1, Duration::ZERO), "a mail after a quiet spell");

    let (exit, log) = bot.stop(Duration::from_secs(30));
    assert!(exit.success(), "{log}");
}

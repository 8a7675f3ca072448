//! With `imap_idle`, a mail that arrives at any moment is processed within about a second
//! while the connection is healthy, whatever the poll interval: right after a batch, during a
//! scan, between a scan and the next IDLE, after a quiet spell. The poll interval here is a
//! minute, so a missed wake-up shows as a timeout, not as a slow pass.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::time::{Duration, Instant};

use plba_testkit::mail::MailBuilder;
use plba_testkit::process::wait_until;
use plba_testkit::servers::{Dovecot, IMAP_USER};
use support::{control_addr, start_bot, wait_ready};

/// Far below the 60 s poll interval: only IDLE can be this quick.
const WAKE_DEADLINE: Duration = Duration::from_secs(8);

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
            "platform:\n  control:\n    bind: {addr}\nmail_order_bot:\n  source:\n    kind: imap_idle\n    host: 127.0.0.1\n    port: {}\n    security: plain\n    user: {}\n    password_file: {}\n    poll_interval_ms: 60000\n  customers:\n    \"@acme.example\": ACME\n",
            dovecot.port(),
            IMAP_USER.0,
            password.display()
        ),
    )
    .unwrap();
    let path = config.display().to_string();
    let bot = start_bot(dir.path(), &["--config", &path, "run"], &[]);
    wait_ready(&bot, addr);

    let mut sent = 0;
    let mut slowest = Duration::ZERO;
    let mut send = |count: usize, gap: Duration| {
        for _ in 0..count {
            sent += 1;
            dovecot.append("INBOX", &order(sent));
            if !gap.is_zero() {
                std::thread::sleep(gap);
            }
        }
        sent
    };
    let mut all_seen = |total: usize, moment: &str| {
        let started = Instant::now();
        wait_until(WAKE_DEADLINE, moment, || {
            dovecot.message_counts("INBOX") == Some((total as u64, 0))
        });
        slowest = slowest.max(started.elapsed());
    };

    // A first batch, then one mail right after the batch completed.
    let total = send(5, Duration::ZERO);
    all_seen(total, "the first batch");
    let total = send(1, Duration::ZERO);
    all_seen(total, "a mail right after a batch completed");
    // Mail arriving while the source scans and publishes: the first APPEND wakes IDLE, the
    // next ones land during the scan it starts or between that scan and the next IDLE. The
    // gap shifts the later ones across that window from round to round.
    for round in 0..12u64 {
        let total = send(3, Duration::from_millis(round * 7));
        all_seen(
            total,
            &format!("mail during and after a scan (round {round})"),
        );
    }
    // After a quiet spell the source sits in IDLE: one mail wakes it.
    std::thread::sleep(Duration::from_secs(2));
    let total = send(1, Duration::ZERO);
    all_seen(total, "a mail after a quiet spell");

    let (exit, log) = bot.stop(Duration::from_secs(30));
    assert!(exit.success(), "{log}");
    assert!(slowest < WAKE_DEADLINE, "slowest wake-up {slowest:?}");
}

//! Many workers, large mails: the source's `memory_budget_bytes` bounds what the bot holds.
//! The bot runs the shipped Maildir example (1024 workers); the budget is set with `--set`.
//! Forty-eight 2 MiB orders land at once in front of 1024 workers; with a 2 MiB budget they
//! are read one after another, every one becomes an order, and the process's peak memory
//! stays far below what reading them all at once takes (96 MiB of bodies alone). And the
//! process keeps its memory in ordinary pages, not 2 MiB huge ones, unless told otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::path::Path;

use plba_testkit::mail::MailBuilder;
use plba_testkit::process::wait_until;
use support::{DEADLINE, control_addr, example_with_customers, listed, start_bot, wait_ready};

const MAILS: usize = 48;
const MAIL_BYTES: usize = 2 * 1024 * 1024;

/// The shipped Maildir example (1024 workers) with a customer filled in, as a user edits it.
fn config(dir: &Path) -> String {
    let path = dir.join("bot.yaml");
    let example = example_with_customers("    \"@acme.example\": ACME\n");
    assert!(
        example.contains("  workers: 1024\n"),
        "the example's worker count changed"
    );
    std::fs::write(&path, example).unwrap();
    path.display().to_string()
}

/// An order whose text body pads it to about `MAIL_BYTES`.
fn large_order(n: usize) -> Vec<u8> {
    let mut mail = MailBuilder::new("orders@acme.example", &format!("<large-{n}@acme.example>"))
        .attachment("o.csv", "text/csv", b"sku,quantity\nA-1,2\n")
        .build();
    // Trailing text after the closing boundary (an epilogue) is part of the message and
    // read whole, but changes nothing in the order.
    mail.extend(std::iter::repeat_n(b'x', MAIL_BYTES).collect::<Vec<u8>>());
    mail.extend_from_slice(b"\r\n");
    mail
}

/// The highest resident memory the process has had, from `/proc`.
fn peak_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib * 1024
}

/// Starts the bot on the shipped example with `memory_budget_bytes` set to `budget` on the
/// command line, drops the mails into `new/` at once, waits for every order; returns the
/// process's peak resident memory.
fn run_with_budget(budget: u64) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let addr = control_addr();
    let config = config(dir.path());
    let budget = format!("mail_order_bot.source.memory_budget_bytes={budget}");
    let env = [("PLBA__PLATFORM__CONTROL__BIND", addr.to_string())];
    let bot = start_bot(
        dir.path(),
        &["--config", &config, "--set", &budget, "run"],
        &env,
    );
    wait_ready(&bot, addr);
    let maildir = dir.path().join("data/Maildir");
    for n in 0..MAILS {
        let staged = maildir.join("tmp").join(format!("large-{n}"));
        std::fs::write(&staged, large_order(n)).unwrap();
    }
    for n in 0..MAILS {
        let name = format!("large-{n}");
        std::fs::rename(
            maildir.join("tmp").join(&name),
            maildir.join("new").join(&name),
        )
        .unwrap();
    }
    wait_until(DEADLINE, "every large mail to become an order", || {
        listed(dir.path(), "orders", &["--config", &config], &[]).len() == MAILS
    });
    let peak = peak_rss_bytes(bot.id());
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "{log}");
    peak
}

#[test]
fn a_small_memory_budget_bounds_what_many_workers_hold() {
    let bounded = run_with_budget(MAIL_BYTES as u64 + 64 * 1024);
    let unbounded = run_with_budget((MAILS * MAIL_BYTES * 4) as u64);
    // Reading all mails at once holds at least their bodies; one at a time holds a few.
    assert!(
        bounded + (MAILS * MAIL_BYTES / 4) as u64 <= unbounded,
        "peak memory {} MiB with a one-mail budget, {} MiB with room for all",
        bounded >> 20,
        unbounded >> 20
    );
}

/// Whether process `pid` may be given transparent huge pages (`THP_enabled` in
/// `/proc/PID/status`: the process's own setting, whatever the system's); `None` on a
/// kernel built without them.
fn huge_pages_enabled(pid: u32) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("THP_enabled:"))
        .map(|value| value.trim() == "1")
}

/// How much of process `pid`'s memory sits in transparent huge pages, in KiB.
fn huge_page_kib(pid: u32) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    rollup
        .lines()
        .find_map(|line| line.strip_prefix("AnonHugePages:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("AnonHugePages in /proc/PID/smaps_rollup")
}

#[test]
fn the_bot_keeps_its_memory_in_small_pages_unless_told_otherwise() {
    // This test's own process may have them (it did not opt out): then so would the bot.
    if huge_pages_enabled(std::process::id()) != Some(true) {
        eprintln!(
            "skipped: this kernel has no transparent huge pages, or this process is barred from them"
        );
        return;
    }
    for (allow, expected) in [(None, false), (Some("1"), true)] {
        let dir = tempfile::tempdir().unwrap();
        let addr = control_addr();
        let config = config(dir.path());
        let mut env = vec![("PLBA__PLATFORM__CONTROL__BIND", addr.to_string())];
        if let Some(allow) = allow {
            env.push(("MIMALLOC_ALLOW_THP", allow.to_owned()));
        }
        let bot = start_bot(dir.path(), &["--config", &config, "run"], &env);
        wait_ready(&bot, addr);
        assert_eq!(
            huge_pages_enabled(bot.id()),
            Some(expected),
            "MIMALLOC_ALLOW_THP={allow:?}"
        );
        if !expected {
            // At most the first regions the allocator touched before `main` (two huge pages
            // here): nothing the runtime's threads allocate afterwards.
            let kib = huge_page_kib(bot.id());
            assert!(kib <= 8 * 1024, "{kib} KiB of memory in huge pages");
        }
        let (status, log) = bot.stop(DEADLINE);
        assert!(status.success(), "{log}");
    }
}

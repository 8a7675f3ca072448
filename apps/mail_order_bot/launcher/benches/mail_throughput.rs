//! End-to-end mail throughput of the shipped binary against a Python loop, in one run.
//!
//! `cargo bench -p mail_order_bot_launcher --bench mail_throughput` starts a private Dovecot,
//! fills its INBOX with generated order mails (seven orders in ten, the rest rejections of
//! three kinds), and times, per run:
//!
//! - the Python loop in `benches/baseline/imap_loop.py` (imaplib + email + csv + sqlite3,
//!   FETCH in batches of 100, one commit per mail),
//! - the server's limit: `benches/baseline/fetch_and_mark.rs`, a loop that only fetches
//!   the bodies and marks them seen, 1,000 UIDs a round trip, no parsing, and
//! - `mail_order_bot run` with an `imap_idle` source and otherwise default settings, from
//!   process start until every mail has an outcome and the mailbox has no unseen mail;
//!
//! then the same for a Maildir (`benches/baseline/maildir_loop.py` against the bot's
//! `maildir` source). Each side starts from a full, unseen mailbox and an empty database.
//! `PLBA_BENCH_MAILS` (default 10000) and `PLBA_BENCH_RUNS` (default 3) change the size;
//! `PLBA_BENCH_PYTHON=0` leaves the Python loops out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a bench binary prints its table

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "baseline/fetch_and_mark.rs"]
mod fetch_and_mark;

use plba_testkit::bench::{env_u64, median, table_row};
use plba_testkit::mail::{MixKind, mix_kind, order_mix};
use plba_testkit::process::{AppProcess, http_get};
use plba_testkit::servers::{Dovecot, IMAP_USER, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_mail_order_bot");

/// How long one side may take before the bench gives up on it.
const PATIENCE: Duration = Duration::from_secs(300);

fn baseline_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/baseline")
        .join(name)
}

/// Runs a baseline script to its end; returns the elapsed time and checks its count.
fn time_python(args: &[&str], expected: usize) -> Duration {
    let start = Instant::now();
    let output = Command::new("python3")
        .args(args)
        .output()
        .expect("python3 is needed for the baseline");
    let elapsed = start.elapsed();
    assert!(
        output.status.success(),
        "the Python baseline failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let handled: usize = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("the baseline prints its count");
    assert_eq!(handled, expected, "the baseline handled a different number");
    elapsed
}

/// How many orders and rejections each side stored: both must have judged every mail alike.
#[derive(Debug, PartialEq, Eq)]
struct Stored {
    orders: usize,
    rejections: usize,
}

/// What the Python baseline stored in `database`.
fn python_stored(database: &str) -> Stored {
    let output = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); \
             print(*(db.execute(f'SELECT COUNT(*) FROM {t}').fetchone()[0] for t in ('orders', 'rejections')))",
            database,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let mut counts = text.split_whitespace().map(|n| n.parse().unwrap());
    Stored {
        orders: counts.next().unwrap(),
        rejections: counts.next().unwrap(),
    }
}

/// What the bot stored, read with its own CLI as an operator would.
fn bot_stored(dir: &Path, config: &str) -> Stored {
    let listed = |what: &str| {
        let output = Command::new(BIN)
            .current_dir(dir)
            .args([
                "--config", config, what, "list", "--json", "--limit", "100000",
            ])
            .output()
            .unwrap();
        assert!(output.status.success(), "{what} list failed");
        serde_json::from_slice::<Vec<serde_json::Value>>(&output.stdout)
            .unwrap()
            .len()
    };
    Stored {
        orders: listed("orders"),
        rejections: listed("rejections"),
    }
}

/// The sum of `plba_mail_outcomes_total` on the bot's metrics endpoint.
fn outcomes(addr: SocketAddr) -> u64 {
    let Ok(reply) = http_get(addr, "/metrics") else {
        return 0;
    };
    reply
        .body
        .lines()
        .filter(|line| line.starts_with("plba_mail_outcomes_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Starts the bot on `config` in `dir` and returns the time until `done` holds, polled
/// every 2 ms (and says when `started` first held: the start-up's share); the bot is
/// stopped afterwards.
fn time_bot(
    dir: &Path,
    config: &str,
    mut started: impl FnMut() -> bool,
    mut done: impl FnMut() -> bool,
) -> Duration {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .args(["--config", config, "run"])
        .env_remove("RUST_LOG");
    let start = Instant::now();
    let mut bot = AppProcess::spawn(command, &dir.join("bot.log"));
    let mut first = None;
    while !done() {
        if first.is_none() && started() {
            first = Some(start.elapsed());
        }
        assert!(
            bot.exited().is_none(),
            "the bot exited early:\n{}",
            bot.log()
        );
        assert!(
            start.elapsed() < PATIENCE,
            "the bot did not finish in {PATIENCE:?}:\n{}",
            bot.log()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = start.elapsed();
    bot.stop(Duration::from_secs(30));
    if let Some(first) = first {
        println!(
            "  bot: first outcome {:.0} ms after start, last after {:.0} ms",
            first.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() * 1e3
        );
    }
    elapsed
}

/// The bot's configuration: defaults, with `source` and the customer the mails come from.
fn bot_config(dir: &Path, addr: SocketAddr, source: &str) -> String {
    let path = dir.join("bot.yaml");
    std::fs::write(
        &path,
        format!(
            "platform:\n  control:\n    bind: {addr}\nmail_order_bot:\n  source:\n{source}  customers:\n    \"@acme.example\": ACME\n  store:\n    sqlite_path: {}\n",
            dir.join("orders.db").display()
        ),
    )
    .unwrap();
    path.display().to_string()
}

struct Rates {
    python: Vec<f64>,
    /// The fetch-and-mark loop (IMAP only).
    server: Vec<f64>,
    bot: Vec<f64>,
}

impl Rates {
    fn new() -> Self {
        Self {
            python: Vec::new(),
            server: Vec::new(),
            bot: Vec::new(),
        }
    }
}

/// Whether the Python loops run (`PLBA_BENCH_PYTHON=0` leaves them out, for a profiler or a
/// quick A/B of the bot against the fetch-and-mark loop).
fn with_python() -> bool {
    std::env::var("PLBA_BENCH_PYTHON").map_or(true, |v| v != "0")
}

fn imap_run(dovecot: &Dovecot, mails: &[Vec<u8>], expected: &Stored, rates: &mut Rates) {
    let n = mails.len();
    let refill = || {
        dovecot.empty("INBOX");
        dovecot.append_all("INBOX", mails);
        assert_eq!(dovecot.message_counts("INBOX"), Some((n as u64, n as u64)));
    };

    let dir = tempfile::tempdir().unwrap();
    let port = dovecot.port().to_string();
    if with_python() {
        refill();
        let db = dir.path().join("python.db").display().to_string();
        let script = baseline_script("imap_loop.py").display().to_string();
        let elapsed = time_python(
            &[&script, "127.0.0.1", &port, IMAP_USER.0, IMAP_USER.1, &db],
            n,
        );
        assert_eq!(dovecot.message_counts("INBOX"), Some((n as u64, 0)));
        assert_eq!(&python_stored(&db), expected, "the Python loop's outcomes");
        rates.python.push(n as f64 / elapsed.as_secs_f64());
    }

    refill();
    let start = Instant::now();
    let handled = fetch_and_mark::fetch_and_mark(dovecot.port(), IMAP_USER.0, IMAP_USER.1);
    let elapsed = start.elapsed();
    assert_eq!(handled, n, "the fetch-and-mark loop took every mail");
    assert_eq!(dovecot.message_counts("INBOX"), Some((n as u64, 0)));
    rates.server.push(n as f64 / elapsed.as_secs_f64());

    refill();
    let password = dir.path().join("password");
    std::fs::write(&password, IMAP_USER.1).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let source = format!(
        "    kind: imap_idle\n    host: 127.0.0.1\n    port: {port}\n    security: plain\n    user: {}\n    password_file: {}\n",
        IMAP_USER.0,
        password.display()
    );
    let config = bot_config(dir.path(), addr, &source);
    // An outcome is counted only once its mail is marked, so the count alone says done;
    // the mailbox is checked after the clock stops, as the Python side's is.
    let elapsed = time_bot(
        dir.path(),
        &config,
        || outcomes(addr) > 0,
        || outcomes(addr) >= n as u64,
    );
    assert_eq!(dovecot.message_counts("INBOX"), Some((n as u64, 0)));
    assert_eq!(
        &bot_stored(dir.path(), &config),
        expected,
        "the bot's outcomes"
    );
    rates.bot.push(n as f64 / elapsed.as_secs_f64());
}

/// A Maildir under `root` holding `mails` in `new/`.
fn fill_maildir(root: &Path, mails: &[Vec<u8>]) -> PathBuf {
    let maildir = root.join("Maildir");
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for (n, mail) in mails.iter().enumerate() {
        std::fs::write(maildir.join("new").join(format!("{n}.bench")), mail).unwrap();
    }
    maildir
}

fn maildir_run(mails: &[Vec<u8>], expected: &Stored, rates: &mut Rates) {
    let n = mails.len();
    let unseen = |maildir: &Path| std::fs::read_dir(maildir.join("new")).unwrap().count();

    let dir = tempfile::tempdir().unwrap();
    if with_python() {
        let maildir = fill_maildir(&dir.path().join("python"), mails);
        let db = dir.path().join("python.db").display().to_string();
        let script = baseline_script("maildir_loop.py").display().to_string();
        let elapsed = time_python(&[&script, &maildir.display().to_string(), &db], n);
        assert_eq!(unseen(&maildir), 0);
        assert_eq!(&python_stored(&db), expected, "the Python loop's outcomes");
        rates.python.push(n as f64 / elapsed.as_secs_f64());
    }

    let maildir = fill_maildir(&dir.path().join("bot"), mails);
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let source = format!("    kind: maildir\n    path: {}\n", maildir.display());
    let config = bot_config(dir.path(), addr, &source);
    let elapsed = time_bot(
        dir.path(),
        &config,
        || outcomes(addr) > 0,
        || outcomes(addr) >= n as u64,
    );
    assert_eq!(unseen(&maildir), 0);
    assert_eq!(
        &bot_stored(dir.path(), &config),
        expected,
        "the bot's outcomes"
    );
    rates.bot.push(n as f64 / elapsed.as_secs_f64());
}

fn main() {
    let count =
        usize::try_from(env_u64("PLBA_BENCH_MAILS", 10_000).expect("PLBA_BENCH_MAILS is a number"))
            .expect("PLBA_BENCH_MAILS fits in memory");
    let runs = env_u64("PLBA_BENCH_RUNS", 3)
        .expect("PLBA_BENCH_RUNS is a number")
        .max(1);
    let orders = (0..count)
        .filter(|&n| mix_kind(n) == MixKind::Order)
        .count();
    let expected = Stored {
        orders,
        rejections: count - orders,
    };
    let Some(dovecot) = Dovecot::start() else {
        println!("Dovecot is not available: nothing measured");
        return;
    };
    let mut imap = Rates::new();
    let mut maildir = Rates::new();
    // One side alone, for a profiler: `imap` or `maildir`.
    let only = std::env::var("PLBA_BENCH_ONLY").ok();
    for run in 0..runs {
        let mails = order_mix(count, &format!("bench{run}"));
        if only.as_deref().is_none_or(|only| only == "imap") {
            imap_run(&dovecot, &mails, &expected, &mut imap);
        }
        if only.as_deref().is_none_or(|only| only == "maildir") {
            maildir_run(&mails, &expected, &mut maildir);
        }
    }
    println!(
        "\n{count} mails per run ({orders} orders, {} rejections), {runs} runs, mails/s:\n",
        count - orders
    );
    println!("| path | median mails/s | min | max | vs Python | vs fetch-and-mark |");
    println!("|---|---:|---:|---:|---:|---:|");
    let python = median(&imap.python);
    let server = median(&imap.server);
    for (name, rates) in [
        (
            "Python loop over IMAP (imaplib, FETCH ×100, commit per mail)",
            &imap.python,
        ),
        (
            "fetch-and-mark loop (UID FETCH BODY.PEEK[] + UID STORE \\Seen, 1,000 UIDs a round trip, no parsing)",
            &imap.server,
        ),
        (
            "mail_order_bot, imap_idle source (defaults), from process start",
            &imap.bot,
        ),
    ] {
        // A side left out (`PLBA_BENCH_ONLY`, `PLBA_BENCH_PYTHON=0`) has no row.
        if rates.is_empty() {
            continue;
        }
        println!(
            "{} {:.2} |",
            table_row(name, rates, python),
            median(rates) / server
        );
    }
    println!();
    println!("| path | median mails/s | min | max | vs Python |");
    println!("|---|---:|---:|---:|---:|");
    let python = median(&maildir.python);
    for (name, rates) in [
        (
            "Python loop over the Maildir (commit per mail)",
            &maildir.python,
        ),
        ("mail_order_bot, maildir source (defaults)", &maildir.bot),
    ] {
        if rates.is_empty() {
            continue;
        }
        println!("{}", table_row(name, rates, python));
    }
}

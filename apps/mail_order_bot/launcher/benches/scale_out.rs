//! Scale-out capacity: end-to-end mails/s of 1, 2 and 3 bot processes sharing one Dovecot
//! mailbox (IMAP IDLE), one Redis (queue and mailbox lease) and one PostgreSQL, on this
//! machine, in one run.
//!
//! `cargo bench -p mail_order_bot_launcher --bench scale_out` (env `PLBA_BENCH_MAILS`,
//! default 2000; `PLBA_BENCH_RUNS`, default 3). Each measurement starts from a full, unseen
//! mailbox, a fresh queue and an empty database, starts the bots (each in its own directory,
//! default settings but for the shared servers) and stops the clock when every mail is seen
//! and has its outcome in the database. Prints a Markdown table of medians.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a bench binary prints its table

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use plba_testkit::bench::{env_u64, median, table_row};
use plba_testkit::mail::order_mix;
use plba_testkit::postgres::PostgresServer;
use plba_testkit::process::AppProcess;
use plba_testkit::servers::{Dovecot, IMAP_USER, RedisServer, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_mail_order_bot");
const PATIENCE: Duration = Duration::from_secs(300);

/// The configuration of one bot of measurement `tag`: its own queue keys, lease and database.
fn config(dir: &Path, tag: &str, dovecot: &Dovecot, redis: &RedisServer, db_url: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("imap-password"), IMAP_USER.1).unwrap();
    std::fs::write(dir.join("pg-password"), PostgresServer::PASSWORD).unwrap();
    let path = dir.join("bot.yaml");
    let text = format!(
        "platform:
  control:
    bind: 127.0.0.1:{control}
log:
  level: warn
mail_order_bot:
  customers:
    \"@acme.example\": ACME
  source:
    kind: imap_idle
    host: 127.0.0.1
    port: {port}
    security: plain
    user: {user}
    password_file: imap-password
  queue:
    kind: redis
    url: {redis}
    prefix: {tag}
  source_lease:
    url: {redis}
    prefix: {tag}
  store:
    kind: postgres
    url: {db_url}
    password_file: pg-password
",
        control = free_port(),
        port = dovecot.port(),
        user = IMAP_USER.0,
        redis = redis.url(),
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Times `processes` bots on `mails` from their start until every mail is done.
fn measure(
    servers: &(Dovecot, RedisServer, PostgresServer),
    mails: &[Vec<u8>],
    processes: usize,
    tag: &str,
) -> Duration {
    let (dovecot, redis, pg) = servers;
    dovecot.empty("INBOX");
    dovecot.append_all("INBOX", mails);
    let db_url = pg.create_database(tag);
    let root = tempfile::tempdir().unwrap();
    let configs: Vec<(std::path::PathBuf, String)> = (0..processes)
        .map(|n| {
            let dir = root.path().join(format!("host-{n}"));
            let config = config(&dir, tag, dovecot, redis, &db_url);
            (dir, config)
        })
        .collect();
    let start = Instant::now();
    let mut bots: Vec<AppProcess> = configs
        .iter()
        .map(|(dir, config)| {
            let mut command = Command::new(BIN);
            command
                .current_dir(dir)
                .args(["--config", config, "run"])
                .env_remove("RUST_LOG");
            AppProcess::spawn(command, &dir.join("bot.log"))
        })
        .collect();
    let total = mails.len();
    let count_sql = "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM rejections)";
    let mut stored = 0;
    while stored < total {
        for bot in &mut bots {
            assert!(bot.exited().is_none(), "a bot exited early:\n{}", bot.log());
        }
        assert!(start.elapsed() < PATIENCE, "not done in {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(20));
        // Before the first bot made the tables, there is nothing to count.
        stored = pg
            .try_query(tag, count_sql)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
    }
    while dovecot.message_counts("INBOX").map(|(_, unseen)| unseen) != Some(0) {
        assert!(
            start.elapsed() < PATIENCE,
            "mails left unseen after {PATIENCE:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed();
    for bot in bots {
        bot.stop(Duration::from_secs(30));
    }
    elapsed
}

fn main() {
    let count = usize::try_from(env_u64("PLBA_BENCH_MAILS", 2_000).expect("a number"))
        .expect("fits in memory");
    let runs = env_u64("PLBA_BENCH_RUNS", 3).expect("a number").max(1);
    let (Some(dovecot), Some(redis), Some(pg)) = (
        Dovecot::start(),
        RedisServer::start(),
        PostgresServer::start(),
    ) else {
        println!("Dovecot, Redis and PostgreSQL are needed: nothing measured");
        return;
    };
    let servers = (dovecot, redis, pg);
    let mut rates: [Vec<f64>; 3] = Default::default();
    for run in 0..runs {
        let mails = order_mix(count, &format!("scale{run}"));
        for (processes, rates) in (1..=3).zip(rates.iter_mut()) {
            let elapsed = measure(&servers, &mails, processes, &format!("r{run}p{processes}"));
            rates.push(count as f64 / elapsed.as_secs_f64());
        }
    }
    println!(
        "\n{count} mails per run, {runs} runs; Dovecot (IMAP IDLE), Redis and PostgreSQL on this machine, mails/s:\n"
    );
    println!("| bot processes | median mails/s | min | max | vs 1 process |");
    println!("|---|---:|---:|---:|---:|");
    let one = median(&rates[0]);
    for (processes, rates) in (1..=3).zip(&rates) {
        println!("{}", table_row(&processes.to_string(), rates, one));
    }
}

//! The job features as the shipped binary uses them: retries spread by jitter after an
//! outage (the example's `retry.jitter: full`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::path::Path;

use plba_testkit::postgres::PostgresServer;
use plba_testkit::process::wait_until;
use plba_testkit::servers::RedisServer;
use support::{
    DEADLINE, control_addr, deliver_orders, example_with_customers, replace_block, start_bot,
    wait_ready,
};

/// The first retry delay the test sets: large against the moment the failures happen in.
const RETRY_MS: u64 = 6_000;
const MAILS: usize = 40;

/// The shipped example, as a user edits it for Redis and PostgreSQL, with a long first
/// retry delay; the example's own `jitter` line is kept.
fn config(dir: &Path, redis: &RedisServer, pg: &PostgresServer) -> (String, std::net::SocketAddr) {
    let addr = control_addr();
    std::fs::write(dir.join("pg-password"), pg.password()).unwrap();
    let text = example_with_customers("    \"@acme.example\": ACME\n");
    assert!(
        text.contains("    jitter: full\n"),
        "the example spreads retries"
    );
    let text = text.replace("    bind: 127.0.0.1:9090", &format!("    bind: {addr}"));
    let text = text.replace(
        "    initial_ms: 1000\n    max_ms: 60000\n",
        &format!("    initial_ms: {RETRY_MS}\n    max_ms: {RETRY_MS}\n"),
    );
    let text = replace_block(
        &text,
        "  queue:",
        &format!(
            "  queue:\n    kind: redis\n    url: {}\n    block_ms: 200\n    max_attempts: 100\n",
            redis.url()
        ),
    );
    let text = replace_block(
        &text,
        "  store:",
        &format!(
            "  store:\n    kind: postgres\n    url: {}\n    password_file: pg-password\n    statement_timeout_ms: 1000\n",
            pg.url()
        ),
    );
    let path = dir.join("bot.yaml");
    std::fs::write(&path, text).unwrap();
    (path.display().to_string(), addr)
}

fn redis_conn(redis: &RedisServer) -> redis::Connection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// When each task waiting for a retry is due (ms since the epoch).
fn retry_due_times(redis: &RedisServer) -> Vec<u64> {
    let scored: Vec<(String, u64)> = redis::cmd("ZRANGE")
        .arg("plba:{mail}:delayed")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut redis_conn(redis))
        .unwrap();
    scored.into_iter().map(|(_, due)| due).collect()
}

fn stored_orders(pg: &PostgresServer) -> usize {
    pg.try_query("orders", "SELECT count(*) FROM orders")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Forty mails fail together while PostgreSQL is down. Without jitter their retries would
/// all fall due within the moment they failed in (well under a second); with the example's
/// full jitter they are spread over the whole first delay. Once the database is back, every
/// order is stored.
#[test]
fn retries_after_an_outage_are_spread_not_fired_in_lockstep() {
    let (Some(redis), Some(mut pg)) = (RedisServer::start(), PostgresServer::start()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (config, addr) = config(dir.path(), &redis, &pg);
    let bot = start_bot(dir.path(), &["--config", &config, "run"], &[]);
    wait_ready(&bot, addr);

    pg.stop();
    deliver_orders(&dir.path().join("data/Maildir"), MAILS, "jitter");
    wait_until(
        DEADLINE,
        "every mail failed once and waits for a retry",
        || retry_due_times(&redis).len() == MAILS,
    );
    let due = retry_due_times(&redis);
    let spread = due.iter().max().unwrap() - due.iter().min().unwrap();
    eprintln!("jitter: {MAILS} retries due over {spread} ms (first delay {RETRY_MS} ms)");
    assert!(
        spread >= RETRY_MS / 2,
        "the retries fall due within {spread} ms of each other: lockstep, not spread over {RETRY_MS} ms"
    );
    let mut sorted = due.clone();
    sorted.dedup();
    assert!(
        sorted.len() > MAILS / 2,
        "most retries fall due at distinct moments: {due:?}"
    );

    pg.start_again();
    wait_until(DEADLINE, "every order stored after the outage", || {
        stored_orders(&pg) == MAILS
    });
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
}

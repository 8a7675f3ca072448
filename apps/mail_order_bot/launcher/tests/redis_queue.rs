//! The shipped example switched to the Redis queue the way its comments tell a user to (the
//! `memory` block replaced by the commented `redis` one, the URL filled in): every mail gives
//! one order, and a graceful stop (SIGTERM) leaves nothing pending in Redis — the acks the
//! bot queued for writing are written before it exits, and what it read ahead goes back to
//! the stream — so no other bot waits out a visibility timeout for work already done.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::path::Path;

use plba_testkit::process::wait_until;
use plba_testkit::servers::RedisServer;
use support::{
    DEADLINE, control_addr, deliver_orders, example_with_customers, listed, start_bot, wait_ready,
};

const MAILS: usize = 200;
/// The stream of the bot's queue (`mail`, default prefix).
const STREAM: &str = "plba:{mail}:stream";

/// The example with its `queue:` block replaced by the commented Redis one, uncommented,
/// pointing at `redis_url`, acks waiting up to a second to be written (so that only the stop
/// can explain their being written at once).
fn config(dir: &Path, redis_url: &str) -> String {
    let example = example_with_customers("    \"@acme.example\": ACME\n");
    let mut lines: Vec<String> = Vec::new();
    let mut in_memory_queue = false;
    for line in example.lines() {
        if line == "  queue:" {
            in_memory_queue = true;
            continue;
        }
        if in_memory_queue {
            if line.starts_with("    ") {
                continue;
            }
            in_memory_queue = false;
        }
        lines.push(line.to_owned());
    }
    let commented: Vec<String> = lines
        .iter()
        .skip_while(|line| !line.starts_with("  #   queue:"))
        .take_while(|line| line.starts_with("  #  "))
        .map(|line| line.replacen("  # ", "", 1))
        .collect();
    assert!(
        commented.len() > 5 && commented.iter().any(|l| l.contains("kind: redis")),
        "the example's commented Redis queue changed: {commented:?}"
    );
    let redis_block: String = commented
        .iter()
        .map(|line| {
            let line = line.split(" # ").next().unwrap_or_default().trim_end();
            let line = if line.trim_start().starts_with("url:") {
                format!("    url: {redis_url}")
            } else if line.trim_start().starts_with("ack_delay_ms:") {
                "    ack_delay_ms: 1000".to_owned()
            } else {
                line.to_owned()
            };
            format!("{line}\n")
        })
        .collect();
    assert!(redis_block.contains("ack_delay_ms: 1000"), "{redis_block}");
    let text: String = lines
        .iter()
        .map(|line| {
            if line == "mail_order_bot:" {
                format!("{line}\n{redis_block}")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let path = dir.join("bot.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn redis_int(url: &str, command: &[&str]) -> u64 {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_connection().unwrap();
    let mut cmd = redis::cmd(command[0]);
    for arg in &command[1..] {
        cmd.arg(*arg);
    }
    let reply: redis::Value = cmd.query(&mut conn).unwrap();
    match reply {
        redis::Value::Int(n) => u64::try_from(n).unwrap(),
        redis::Value::Nil => 0,
        redis::Value::BulkString(text) => String::from_utf8(text).unwrap().parse().unwrap(),
        // XPENDING's summary: the count first.
        redis::Value::Array(items) => match items.first() {
            Some(redis::Value::Int(n)) => u64::try_from(*n).unwrap(),
            other => panic!("unexpected XPENDING reply {other:?}"),
        },
        other => panic!("unexpected reply {other:?}"),
    }
}

#[test]
fn the_redis_queue_of_the_example_handles_every_mail_and_a_stop_leaves_nothing_pending() {
    let redis = RedisServer::start().expect("redis-server is needed");
    let url = redis.url();
    let dir = tempfile::tempdir().unwrap();
    let addr = control_addr();
    let config = config(dir.path(), &url);
    let env = [("PLBA__PLATFORM__CONTROL__BIND", addr.to_string())];
    let bot = start_bot(dir.path(), &["--config", &config, "run"], &env);
    wait_ready(&bot, addr);

    deliver_orders(&dir.path().join("data/Maildir"), MAILS, "redis-queue");
    let list = ["--config", config.as_str()];
    wait_until(DEADLINE, "an order for every mail", || {
        listed(dir.path(), "orders", &list, &env).len() == MAILS
    });

    // The example seeds sample mails into a fresh Maildir; each is a rejection.
    let rejections = listed(dir.path(), "rejections", &list, &env).len();

    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
    assert_eq!(
        redis_int(&url, &["XPENDING", STREAM, "workers"]),
        0,
        "a stopped bot leaves no entry pending"
    );
    assert_eq!(
        redis_int(&url, &["XLEN", STREAM]),
        0,
        "no task left in the stream"
    );
    assert_eq!(
        redis_int(&url, &["HGET", "plba:{mail}:stats", "acked"]),
        (MAILS + rejections) as u64,
        "one ack written per mail ({rejections} rejected samples among them)"
    );
}

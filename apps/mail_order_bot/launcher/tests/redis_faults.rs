//! The Redis queue failing under the running binary: Redis loses its data (`FLUSHALL`, a
//! restart without persistence) or goes away. The bot recreates the stream and consumer
//! group, publishes again what was lost with Redis (the mails are still unseen), and
//! finishes every mail without a restart; it says it is not ready while no task can be
//! consumed; and its probes answer at once whatever Redis does.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use plba_testkit::mail::MailBuilder;
use plba_testkit::process::wait_until;
use plba_testkit::servers::RedisServer;
use support::{DEADLINE, control_addr, listed, start_bot, wait_ready};

/// The stream and group of the bot's queue (`mail`, default prefix and group).
const STREAM: &str = "plba:{mail}:stream";
const DELAYED: &str = "plba:{mail}:delayed";
const GROUP: &str = "workers";

/// How long a probe may take: a client gives up after this, as an orchestrator's would.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

fn config(dir: &Path, addr: SocketAddr, redis_url: &str) -> String {
    let path = dir.join("bot.yaml");
    std::fs::write(
        &path,
        format!(
            "platform:\n  control:\n    bind: {addr}\nmail_order_bot:\n  workers: 1\n  queue:\n    kind: redis\n    url: {redis_url}\n    block_ms: 200\n    visibility_timeout_ms: 3000\n  source:\n    kind: maildir\n    path: data/Maildir\n    rescan_interval_ms: 200\n  store:\n    sqlite_path: data/orders.db\n  retry:\n    initial_ms: 50\n    max_ms: 500\n  customers:\n    \"@acme.example\": ACME\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// Writes mails `first..first + count` into `tmp/`, then renames them all into `new/` at
/// once, as an MTA delivers a burst. Each order has a few lines, so handling one takes a
/// little longer than publishing one.
fn deliver_burst(maildir: &Path, first: usize, count: usize) {
    let lines: String = (0..30).map(|i| format!("SKU-{i:04},{}\n", i + 1)).collect();
    let csv = format!("sku,quantity\n{lines}");
    let names: Vec<String> = (first..first + count)
        .map(|n| {
            let mail = MailBuilder::new("orders@acme.example", &format!("<redis-fault-{n}@x>"))
                .attachment("o.csv", "text/csv", csv.as_bytes())
                .build();
            let name = format!("redis-fault-{n}.eml");
            std::fs::write(maildir.join("tmp").join(&name), mail).unwrap();
            name
        })
        .collect();
    for name in names {
        std::fs::rename(
            maildir.join("tmp").join(&name),
            maildir.join("new").join(&name),
        )
        .unwrap();
    }
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// `GET path` with a short read timeout: the status code, or `None` when the bot did not
/// answer in time.
fn probe(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Every probe answers within its client's timeout; returns the readiness status.
fn probes_answer(addr: SocketAddr) -> u16 {
    for path in ["/health/live", "/health", "/status", "/metrics"] {
        assert!(
            probe(addr, path).is_some(),
            "{path} did not answer within {PROBE_TIMEOUT:?}"
        );
    }
    probe(addr, "/health/ready").expect("/health/ready did not answer within its timeout")
}

/// Atomically (one Lua script): how many tasks wait in the queue (not yet handed to a
/// consumer, or waiting for a retry), then `FLUSHALL`. Returns how many tasks the flush lost.
fn flush_counting_lost(redis: &RedisServer) -> u64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    redis::Script::new(
        r"
local waiting = redis.call('XLEN', KEYS[1])
local pending = redis.pcall('XPENDING', KEYS[1], ARGV[1])
if type(pending) == 'table' and not pending.err then waiting = waiting - pending[1] end
waiting = waiting + redis.call('ZCARD', KEYS[2])
redis.call('FLUSHALL')
return waiting
",
    )
    .key(STREAM)
    .key(DELAYED)
    .arg(GROUP)
    .invoke(&mut conn)
    .unwrap()
}

/// Tasks in the stream now (published and not yet settled).
fn stream_length(redis: &RedisServer) -> u64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    redis::cmd("XLEN").arg(STREAM).query(&mut conn).unwrap()
}

#[test]
fn mails_whose_tasks_redis_lost_are_published_again_without_a_restart() {
    let redis = RedisServer::start().expect("redis-server is needed");
    let dir = tempfile::tempdir().unwrap();
    let addr = control_addr();
    let config = config(dir.path(), addr, &redis.url());
    let maildir = dir.path().join("data/Maildir");
    let mut bot = start_bot(dir.path(), &["--config", &config, "run"], &[]);
    wait_ready(&bot, addr);

    // Flush while tasks wait in Redis; a burst is handled fast, so try a few bursts until a
    // flush caught some (it nearly always does at once).
    const BURST: usize = 40;
    let mut delivered = 0;
    let mut lost = 0;
    for _ in 0..10 {
        deliver_burst(&maildir, delivered, BURST);
        delivered += BURST;
        wait_until(DEADLINE, "the burst published or done", || {
            stream_length(&redis) > 0 || count(&maildir.join("new")) == 0
        });
        lost = flush_counting_lost(&redis);
        if lost > 0 {
            break;
        }
    }
    assert!(lost > 0, "no flush caught a task waiting in the queue");

    wait_until(
        DEADLINE,
        "every mail completed after Redis lost its data",
        || {
            assert!(bot.exited().is_none(), "the bot exited:\n{}", bot.log());
            count(&maildir.join("new")) == 0
        },
    );
    wait_until(DEADLINE, "ready again", || probes_answer(addr) == 200);
    let orders = listed(dir.path(), "orders", &["--config", &config], &[]);
    assert_eq!(
        orders.len(),
        delivered,
        "one order per mail, none lost with Redis ({lost} tasks were flushed)"
    );
    assert!(bot.exited().is_none(), "still the same process");
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
}

#[test]
fn a_redis_outage_is_not_ready_and_the_probes_still_answer() {
    let mut redis = RedisServer::start().expect("redis-server is needed");
    let dir = tempfile::tempdir().unwrap();
    let addr = control_addr();
    let config = config(dir.path(), addr, &redis.url());
    let maildir = dir.path().join("data/Maildir");
    let mut bot = start_bot(dir.path(), &["--config", &config, "run"], &[]);
    wait_ready(&bot, addr);
    deliver_burst(&maildir, 0, 5);
    wait_until(DEADLINE, "the first mails completed", || {
        count(&maildir.join("new")) == 0
    });

    redis.kill();
    wait_until(DEADLINE, "not ready while Redis is down", || {
        probes_answer(addr) == 503
    });
    // Mail keeps arriving; nothing can be queued, and the bot stays not ready meanwhile.
    deliver_burst(&maildir, 5, 5);
    for _ in 0..10 {
        assert_eq!(
            probes_answer(addr),
            503,
            "not ready for as long as no task can be consumed"
        );
    }

    // Redis comes back without its data.
    redis.restart_empty();
    wait_until(DEADLINE, "every mail completed after the outage", || {
        assert!(bot.exited().is_none(), "the bot exited:\n{}", bot.log());
        count(&maildir.join("new")) == 0
    });
    wait_until(DEADLINE, "ready again", || probes_answer(addr) == 200);
    assert_eq!(
        listed(dir.path(), "orders", &["--config", &config], &[]).len(),
        10
    );
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
}

//! Scale-out acceptance: three bot processes, each in its own working directory with its own
//! configuration file and no shared file (three hosts, as far as the bots can tell), on one
//! Dovecot mailbox over IMAP, one Redis (queue and mailbox lease) and one PostgreSQL.
//!
//! 2,000 mails; the lease holder is killed with SIGKILL mid-run, another bot a little later,
//! and the first one restarted. Every mail ends with exactly one outcome (an order or a
//! rejection) and `\Seen`, checked in the database and the mailbox; another bot takes the
//! mailbox over within the lease time. Then PostgreSQL goes down mid-run: mails stay unseen
//! and the bots say they are not ready; once it is back everything completes, nothing lost
//! or doubled.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)] // tests fail loudly on broken setup; the run is reported

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use plba_testkit::mail::{MixKind, mix_kind, order_mix};
use plba_testkit::postgres::PostgresServer;
use plba_testkit::process::{AppProcess, http_get, wait_until};
use plba_testkit::servers::{Dovecot, IMAP_USER, RedisServer};
use support::{DEADLINE, control_addr, start_bot, wait_ready};

const MAILS: usize = 2_000;
const OUTAGE_MAILS: usize = 300;
const LEASE_TTL_MS: u64 = 3_000;

/// The lease key of the bots' mailbox (`<prefix>:lease:{mail-source:imap:<user>@<host>:<port>/<mailbox>}`).
fn lease_key(dovecot: &Dovecot) -> String {
    format!(
        "plba:lease:{{mail-source:imap:{}@127.0.0.1:{}/INBOX}}",
        IMAP_USER.0,
        dovecot.port()
    )
}

/// The shared servers.
struct Servers {
    dovecot: Dovecot,
    redis: RedisServer,
    pg: PostgresServer,
}

impl Servers {
    fn start() -> Option<Self> {
        Some(Self {
            dovecot: Dovecot::start()?,
            redis: RedisServer::start()?,
            pg: PostgresServer::start()?,
        })
    }
}

/// How long the bots keep at a mail: deliveries of its task, and how long the lease holder
/// waits before publishing again a mail whose task it lost sight of.
#[derive(Clone, Copy)]
struct Patience {
    max_attempts: u32,
    republish_after_ms: u64,
}

/// Retrying through any outage of the test, republishing late.
const PERSISTENT: Patience = Patience {
    max_attempts: 1_000,
    republish_after_ms: 20_000,
};

/// One bot's "host": its directory, configuration and control address.
struct Host {
    dir: PathBuf,
    config: String,
    addr: SocketAddr,
}

impl Host {
    fn new(root: &Path, n: usize, servers: &Servers, patience: Patience) -> Self {
        let Servers { dovecot, redis, pg } = servers;
        let Patience {
            max_attempts,
            republish_after_ms,
        } = patience;
        let dir = root.join(format!("host-{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("imap-password"), IMAP_USER.1).unwrap();
        std::fs::write(dir.join("pg-password"), pg.password()).unwrap();
        let addr = control_addr();
        let redis_url = redis.url();
        let config = format!(
            "platform:
  control:
    bind: {addr}
log:
  level: warn
mail_order_bot:
  customers:
    \"@acme.example\": ACME
  workers: 16
  source:
    kind: imap_idle
    host: 127.0.0.1
    port: {port}
    security: plain
    user: {user}
    password_file: imap-password
    poll_interval_ms: 1000
  queue:
    kind: redis
    url: {redis_url}
    block_ms: 200
    visibility_timeout_ms: 3000
    max_attempts: {max_attempts}
  source_lease:
    url: {redis_url}
    ttl_ms: {LEASE_TTL_MS}
    republish_after_ms: {republish_after_ms}
  retry:
    initial_ms: 100
    max_ms: 1000
  store:
    kind: postgres
    url: {pg_url}
    password_file: pg-password
    pool_size: 4
    statement_timeout_ms: 2000
",
            port = dovecot.port(),
            user = IMAP_USER.0,
            pg_url = pg.url(),
        );
        let path = dir.join("bot.yaml");
        std::fs::write(&path, config).unwrap();
        Self {
            config: path.display().to_string(),
            dir,
            addr,
        }
    }

    fn start(&self) -> AppProcess {
        let bot = start_bot(&self.dir, &["--config", &self.config, "run"], &[]);
        wait_ready(&bot, self.addr);
        bot
    }

    fn ready_status(&self) -> Option<u16> {
        http_get(self.addr, "/health/ready").ok().map(|r| r.status)
    }
}

fn redis_get(redis: &RedisServer, key: &str) -> Option<String> {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    redis::cmd("GET").arg(key).query(&mut conn).unwrap()
}

/// Deliveries the queue put back for a retry so far.
fn retried(redis: &RedisServer) -> u64 {
    redis_hget(redis, "plba:{mail}:stats", "retried")
}

fn redis_hget(redis: &RedisServer, key: &str, field: &str) -> u64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    redis::cmd("HGET")
        .arg(key)
        .arg(field)
        .query::<Option<u64>>(&mut conn)
        .unwrap()
        .unwrap_or(0)
}

fn unseen(dovecot: &Dovecot) -> u64 {
    dovecot
        .message_counts("INBOX")
        .map_or(u64::MAX, |(_, unseen)| unseen)
}

/// Orders and rejections stored so far (none before the first bot made the tables).
fn stored(pg: &PostgresServer) -> usize {
    pg.try_query(
        "orders",
        "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM rejections)",
    )
    .and_then(|n| n.parse().ok())
    .unwrap_or(0)
}

/// Orders and rejections in the database.
fn outcomes(pg: &PostgresServer) -> (usize, usize) {
    let orders: usize = pg.query("SELECT count(*) FROM orders").parse().unwrap();
    let rejections: usize = pg.query("SELECT count(*) FROM rejections").parse().unwrap();
    (orders, rejections)
}

fn expected(mails: usize) -> (usize, usize) {
    let orders = (0..mails)
        .filter(|&n| mix_kind(n) == MixKind::Order)
        .count();
    (orders, mails - orders)
}

fn kill(bot: &mut AppProcess) {
    bot.signal("KILL");
    wait_until(DEADLINE, "the killed bot gone", || bot.exited().is_some());
}

#[test]
fn three_bots_on_three_hosts_give_one_outcome_per_mail_through_kills_and_a_database_outage() {
    let Some(mut servers) = Servers::start() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let hosts: Vec<Host> = (0..3)
        .map(|n| Host::new(root.path(), n, &servers, PERSISTENT))
        .collect();
    let Servers { dovecot, redis, pg } = &mut servers;
    let (dovecot, redis) = (&*dovecot, &*redis);
    let lease = lease_key(dovecot);
    // The mails arrive in three batches, around the kills, so that each kill lands while
    // work is waiting.
    let mails = order_mix(MAILS, "scale");
    let (first, rest) = mails.split_at(700);
    let (second, third) = rest.split_at(700);

    // Host 0 first, so the lease holder is known; then the others.
    let mut bots: Vec<Option<AppProcess>> = vec![Some(hosts[0].start())];
    wait_until(DEADLINE, "host 0 holds the mailbox lease", || {
        redis_get(redis, &lease).is_some()
    });
    let holder = redis_get(redis, &lease).unwrap();
    bots.push(Some(hosts[1].start()));
    bots.push(Some(hosts[2].start()));

    dovecot.append_all("INBOX", first);
    wait_until(DEADLINE, "the first mails done", || stored(pg) >= 200);
    assert_eq!(
        redis_get(redis, &lease).as_ref(),
        Some(&holder),
        "host 0 kept the lease while it worked: one scanner all along"
    );
    kill(bots[0].as_mut().unwrap());
    let killed_at = Instant::now();
    // Nobody scans until another bot takes over: these wait for it.
    dovecot.append_all("INBOX", second);
    wait_until(DEADLINE, "another bot takes the mailbox over", || {
        redis_get(redis, &lease).is_some_and(|now| now != holder)
    });
    let failover = killed_at.elapsed();
    // The lease lapses at most its time to live after the last renewal, and another bot
    // asks every third of it: a takeover within TTL + TTL/3, with room for scheduling.
    assert!(
        failover <= Duration::from_millis(LEASE_TTL_MS * 4 / 3 + 1_000),
        "failover took {failover:?} with a lease of {LEASE_TTL_MS} ms"
    );

    // The second kill: the new scanner, while the mails that arrived meanwhile wait.
    let new_holder = redis_get(redis, &lease).unwrap();
    let scanner = (1..3)
        .find(|&n| {
            let pid = bots[n].as_ref().unwrap().id();
            new_holder.contains(&format!("-{pid}-"))
        })
        .expect("the new lease holder is one of the running bots");
    let left_at_second_kill = unseen(dovecot);
    assert!(left_at_second_kill > 0, "mail waits at the second kill");
    kill(bots[scanner].as_mut().unwrap());
    dovecot.append_all("INBOX", third);
    bots[0] = Some(hosts[0].start());
    eprintln!(
        "multi-host: first failover in {failover:?}; {left_at_second_kill} mails unseen when \
         the second scanner (host {scanner}) was killed"
    );

    wait_until(Duration::from_secs(120), "every mail seen", || {
        unseen(dovecot) == 0
    });
    let (orders, rejections) = expected(MAILS);
    wait_until(DEADLINE, "every outcome stored", || {
        outcomes(pg) == (orders, rejections)
    });
    assert_eq!(
        dovecot.message_counts("INBOX"),
        Some((MAILS as u64, 0)),
        "every mail is in the mailbox and seen"
    );

    // PostgreSQL goes down while new mail arrives.
    let before_outage = retried(redis);
    pg.stop();
    dovecot.append_all("INBOX", &order_mix(OUTAGE_MAILS, "outage"));
    let running: Vec<usize> = vec![0, 3 - scanner];
    wait_until(
        DEADLINE,
        "the bots tried the new mails and retry them",
        || retried(redis) >= before_outage + (OUTAGE_MAILS / 2) as u64,
    );
    wait_until(DEADLINE, "the bots say they are not ready", || {
        running
            .iter()
            .all(|&n| hosts[n].ready_status() == Some(503))
    });
    assert_eq!(
        unseen(dovecot),
        OUTAGE_MAILS as u64,
        "no mail is marked seen while its outcome cannot be stored"
    );
    pg.start_again();
    wait_until(
        Duration::from_secs(120),
        "every mail seen after the outage",
        || unseen(dovecot) == 0,
    );
    let (outage_orders, outage_rejections) = expected(OUTAGE_MAILS);
    wait_until(DEADLINE, "every outcome stored after the outage", || {
        outcomes(pg) == (orders + outage_orders, rejections + outage_rejections)
    });
    wait_until(DEADLINE, "the bots ready again", || {
        running
            .iter()
            .all(|&n| hosts[n].ready_status() == Some(200))
    });
    assert_eq!(
        pg.query("SELECT count(*) FROM (SELECT message_id FROM orders GROUP BY message_id HAVING count(*) > 1) d"),
        "0",
        "no duplicate order"
    );
    for mut bot in bots.into_iter().flatten() {
        if bot.exited().is_none() {
            let (status, log) = bot.stop(DEADLINE);
            assert!(status.success(), "exit {status:?}:\n{log}");
        }
    }
}

fn dead_letters(redis: &RedisServer) -> u64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    redis::cmd("XLEN")
        .arg("plba:{mail}:dead")
        .query(&mut conn)
        .unwrap()
}

/// A task given up in the bot that does not scan (its one attempt failed: the database was
/// down) leaves its mail unseen, and the scanning bot cannot see the giving up: it publishes
/// the mail again once `republish_after_ms` has passed, so every mail still completes.
#[test]
fn a_mail_given_up_by_another_bot_is_published_again_by_the_scanner() {
    let Some(mut servers) = Servers::start() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let once = Patience {
        max_attempts: 1,
        republish_after_ms: 3_000,
    };
    let hosts: Vec<Host> = (0..2)
        .map(|n| Host::new(root.path(), n, &servers, once))
        .collect();
    let Servers { dovecot, redis, pg } = &mut servers;
    let lease = lease_key(dovecot);
    let scanner = hosts[0].start();
    wait_until(DEADLINE, "host 0 holds the mailbox lease", || {
        redis_get(redis, &lease).is_some()
    });
    let other = hosts[1].start();

    pg.stop();
    const GIVEN_UP_MAILS: usize = 100;
    dovecot.append_all("INBOX", &order_mix(GIVEN_UP_MAILS, "given-up"));
    wait_until(
        DEADLINE,
        "tasks given up while the database is down",
        || dead_letters(redis) >= (GIVEN_UP_MAILS / 2) as u64,
    );
    pg.start_again();
    wait_until(
        Duration::from_secs(90),
        "every mail seen, those given up elsewhere too",
        || unseen(dovecot) == 0,
    );
    assert_eq!(outcomes(pg), expected(GIVEN_UP_MAILS));
    for bot in [scanner, other] {
        let (status, log) = bot.stop(DEADLINE);
        assert!(status.success(), "exit {status:?}:\n{log}");
    }
}

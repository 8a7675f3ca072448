//! The job features as the shipped binary uses them: retries spread by jitter after an
//! outage (the example's `retry.jitter: full`), and the nightly summary schedule — written
//! on its schedule with the day's figures, shown in `/status`, and written once per
//! occurrence by three bots sharing a Redis lease, through the holder's death.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plba_testkit::mail::MailBuilder;
use plba_testkit::postgres::PostgresServer;
use plba_testkit::process::{AppProcess, http_get, wait_until};
use plba_testkit::servers::RedisServer;
use support::{
    DEADLINE, control_addr, deliver_orders, example_with_customers, listed, replace_block,
    start_bot, wait_ready,
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

/// When each task waiting for a retry is due (ms since the epoch), by task id, with the
/// attempt that put it there.
fn retries_waiting(redis: &RedisServer) -> Vec<(String, u64, u64)> {
    let scored: Vec<(String, u64)> = redis::cmd("ZRANGE")
        .arg("plba:{mail}:delayed")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut redis_conn(redis))
        .unwrap();
    scored
        .into_iter()
        .map(|(member, due)| {
            let task: serde_json::Value = serde_json::from_str(&member).unwrap();
            let id = task["id"].as_str().unwrap().to_owned();
            (id, task["attempt"].as_u64().unwrap(), due)
        })
        .collect()
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
    // A retry whose jittered delay is short is back in the stream (and soon in the set
    // again) while later mails are still failing, so the set rarely holds all of them at
    // one moment: the due time of each mail's earliest retry seen is what jitter decided.
    let mut first_due: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    wait_until(
        DEADLINE,
        "every mail failed once and waits for a retry",
        || {
            for (id, attempt, due) in retries_waiting(&redis) {
                let seen = first_due.entry(id).or_insert((attempt, due));
                if attempt < seen.0 {
                    *seen = (attempt, due);
                }
            }
            first_due.len() == MAILS
        },
    );
    let due: Vec<u64> = first_due.values().map(|&(_, due)| due).collect();
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

/// The shipped example with the summary's schedule changed to `schedule` (as a user tries it
/// out before waiting for midnight), and `lease` (a YAML block, or nothing) for the summary.
fn summary_config(dir: &Path, schedule: &str, lease: &str) -> (String, std::net::SocketAddr) {
    let addr = control_addr();
    let text = example_with_customers("    \"@acme.example\": ACME\n");
    let text = text.replace("    bind: 127.0.0.1:9090", &format!("    bind: {addr}"));
    assert!(
        text.contains("    schedule: \"0 0 0 * * *\"\n"),
        "the example writes the summary at midnight"
    );
    let text = text.replace(
        "    schedule: \"0 0 0 * * *\"\n",
        &format!("    schedule: \"{schedule}\"\n"),
    );
    let text = if lease.is_empty() {
        text
    } else {
        replace_block(&text, "    lease: null", lease)
    };
    let path = dir.join("bot.yaml");
    std::fs::write(&path, text).unwrap();
    (path.display().to_string(), addr)
}

/// The summary files in `dir`'s summary directory, by name, with their text.
fn summaries(dir: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(dir.join("data/summaries")) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

fn schedule_status(addr: std::net::SocketAddr) -> serde_json::Value {
    let status: serde_json::Value =
        serde_json::from_str(&http_get(addr, "/status").unwrap().body).unwrap();
    status["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "orders-summary")
        .cloned()
        .expect("the summary schedule is in /status")
}

/// A customer id a spreadsheet would run as a formula once it skips a leading tab is written
/// defused (`'` first), as one starting with `=` is.
#[test]
fn a_customer_id_hiding_a_formula_behind_a_tab_is_defused_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (config, addr) = summary_config(dir.path(), "*/2 * * * * *", "");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("    \"@acme.example\": ACME\n"));
    let text = text.replace(
        "    \"@acme.example\": ACME\n",
        "    \"@acme.example\": \"\\t=1+1\"\n",
    );
    std::fs::write(&config, text).unwrap();
    let bot = start_bot(dir.path(), &["--config", &config, "run"], &[]);
    wait_ready(&bot, addr);
    deliver_orders(&dir.path().join("data/Maildir"), 1, "formula");
    wait_until(DEADLINE, "a summary with the order", || {
        summaries(dir.path())
            .values()
            .any(|text| text.contains(",orders,'\t=1+1,1,"))
    });
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
}

/// The example's summary, scheduled every two seconds: a CSV file appears with the orders
/// per customer and the rejections the bot stored, and `/status` shows the schedule's next
/// and last run.
#[test]
fn the_summary_is_written_on_its_schedule_with_the_days_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (config, addr) = summary_config(dir.path(), "*/2 * * * * *", "");
    let bot = start_bot(dir.path(), &["--config", &config, "run"], &[]);
    wait_ready(&bot, addr);
    let maildir = dir.path().join("data/Maildir");
    deliver_orders(&maildir, 5, "summary");
    let stranger = MailBuilder::new("stranger@example.org", "<stranger@x>")
        .attachment("o.csv", "text/csv", b"sku,quantity\nA-1,2\n")
        .build();
    std::fs::write(maildir.join("new/stranger"), stranger).unwrap();
    let env = [];
    wait_until(DEADLINE, "the orders and the rejection stored", || {
        listed(dir.path(), "orders", &["--config", &config], &env).len() == 5
            && listed(dir.path(), "rejections", &["--config", &config], &env).len() == 1
    });
    wait_until(
        DEADLINE,
        "a summary with every order and the rejection",
        || {
            summaries(dir.path()).values().any(|text| {
                text.contains(",orders,ACME,5,10,") && text.contains(",rejections,,1,,")
            })
        },
    );
    let written = summaries(dir.path());
    let (name, text) = written.iter().next_back().unwrap();
    assert!(
        name.starts_with("orders-summary-") && name.ends_with("Z.csv"),
        "{name}"
    );
    assert!(
        text.starts_with(
            "period_start,period_end,kind,customer,count,total_quantity,total_cents\n"
        ),
        "{text}"
    );
    let schedule = schedule_status(addr);
    assert_eq!(
        schedule["cadence"], "cron \"*/2 * * * * *\" in UTC",
        "{schedule}"
    );
    assert_eq!(schedule["missed"], "run_once", "{schedule}");
    assert_eq!(schedule["last_outcome"], "ok", "{schedule}");
    let (next, last) = (
        schedule["next_run"].as_str().unwrap(),
        schedule["last_run"].as_str().unwrap(),
    );
    assert!(next > last, "the next run comes after the last: {schedule}");
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
}

/// One bot's directory and control address.
struct Bot {
    dir: PathBuf,
    config: String,
    addr: std::net::SocketAddr,
}

impl Bot {
    fn start(&self) -> AppProcess {
        let bot = start_bot(&self.dir, &["--config", &self.config, "run"], &[]);
        wait_ready(&bot, self.addr);
        bot
    }
}

/// Every second, three bots share the summary's Redis lease: each occurrence is written by
/// exactly one of them, also while the holder is killed and another takes over.
#[test]
fn three_bots_write_each_summary_once_through_the_holders_death() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let lease = format!(
        "    lease:\n      url: {}\n      prefix: plba\n      ttl_ms: 1500\n",
        redis.url()
    );
    let bots: Vec<Bot> = (0..3)
        .map(|n| {
            let dir = root.path().join(format!("bot-{n}"));
            std::fs::create_dir_all(&dir).unwrap();
            let (config, addr) = summary_config(&dir, "* * * * * *", &lease);
            Bot { dir, config, addr }
        })
        .collect();
    let mut running: Vec<AppProcess> = bots.iter().map(Bot::start).collect();
    let written = |bots: &[Bot]| -> Vec<(usize, String)> {
        bots.iter()
            .enumerate()
            .flat_map(|(n, bot)| summaries(&bot.dir).into_keys().map(move |name| (n, name)))
            .collect()
    };
    wait_until(DEADLINE, "four summaries written", || {
        written(&bots).len() >= 4
    });

    // Kill whichever bot holds the lease (its pid is in the lease's value).
    let holder: String = redis::cmd("GET")
        .arg("plba:lease:{schedule:orders-summary}")
        .query(&mut redis_conn(&redis))
        .unwrap();
    let killed = running
        .iter()
        .position(|bot| holder.contains(&format!("-{}-", bot.id())))
        .expect("one of the bots holds the summary's lease");
    running[killed].signal("KILL");
    wait_until(DEADLINE, "the killed bot gone", || {
        running[killed].exited().is_some()
    });
    let at_kill = written(&bots).len();
    wait_until(DEADLINE, "four more summaries after the takeover", || {
        written(&bots).len() >= at_kill + 4
    });
    for (n, bot) in running.into_iter().enumerate() {
        if n != killed {
            let (status, log) = bot.stop(DEADLINE);
            assert!(status.success(), "exit {status:?}:\n{log}");
        }
    }

    let all = written(&bots);
    let mut names: Vec<&str> = all.iter().map(|(_, name)| name.as_str()).collect();
    names.sort_unstable();
    let total = names.len();
    names.dedup();
    assert_eq!(
        names.len(),
        total,
        "an occurrence was written twice: {all:?}"
    );
    let writers: std::collections::BTreeSet<usize> = all.iter().map(|(n, _)| *n).collect();
    assert!(
        writers.len() >= 2 && all.iter().any(|(n, _)| *n != killed),
        "another bot took the summary over: {all:?}"
    );
    eprintln!("summary: {total} occurrences written once each, by bots {writers:?}");
}

/// A database that takes a lock and never lets go: the bot's attempt on the mail stops at
/// the example's `handler_timeout_ms` (set to a second here), the task is given up with that
/// reason — what `dead-letters list` shows — and, once the lock is gone, a later scan of
/// the Maildir finds the mail still unseen and stores it.
#[test]
fn a_mail_stuck_past_its_time_limit_is_cancelled_with_the_reason_shown_and_taken_up_again() {
    let Some(pg) = PostgresServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let addr = control_addr();
    std::fs::write(dir.path().join("pg-password"), pg.password()).unwrap();
    std::fs::write(dir.path().join("admin-token"), "admin-secret-0123456789\n").unwrap();
    let mut text = example_with_customers("    \"@acme.example\": ACME\n");
    for (from, to) in [
        ("    bind: 127.0.0.1:9090", format!("    bind: {addr}")),
        (
            "    tokens: []\n",
            "    tokens:\n      - name: ops\n        token_file: admin-token\n        role: admin\n"
                .to_owned(),
        ),
        ("  handler_timeout_ms: 300000\n", "  handler_timeout_ms: 1000\n".to_owned()),
        (
            "later scan).\n    max_attempts: 5\n",
            "later scan).\n    max_attempts: 2\n".to_owned(),
        ),
        ("    initial_ms: 1000\n", "    initial_ms: 50\n".to_owned()),
    ] {
        assert!(text.contains(from), "the example changed: {from:?}");
        text = text.replacen(from, &to, 1);
    }
    let text = replace_block(
        &text,
        "  store:",
        &format!(
            "  store:\n    kind: postgres\n    url: {}\n    password_file: pg-password\n    statement_timeout_ms: 60000\n",
            pg.url()
        ),
    );
    let config = dir.path().join("bot.yaml");
    std::fs::write(&config, text).unwrap();
    let config = config.display().to_string();
    let bot = start_bot(dir.path(), &["--config", &config, "run"], &[]);
    wait_ready(&bot, addr);

    let mut lock =
        pg.session("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120);");
    wait_until(DEADLINE, "the orders table locked", || {
        pg.query("SELECT count(*) FROM pg_locks l JOIN pg_class c ON l.relation = c.oid WHERE c.relname = 'orders' AND l.mode = 'AccessExclusiveLock' AND l.granted") == "1"
    });
    deliver_orders(&dir.path().join("data/Maildir"), 1, "stuck");
    let token = [("PLBA_CONTROL_TOKEN", "admin-secret-0123456789".to_owned())];
    let url = format!("http://{addr}");
    let mut letters = serde_json::Value::Null;
    wait_until(DEADLINE, "the stuck mail's task given up", || {
        let out = support::cli(
            dir.path(),
            &["dead-letters", "list", "--config", &config, "--url", &url],
            &token,
        );
        letters = serde_json::from_slice(&out.stdout).unwrap_or_default();
        letters["dead_letters"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    });
    let reason = letters["dead_letters"][0]["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.contains("ran past its time limit of 1s and was cancelled"),
        "the reason names the limit: {reason}"
    );
    assert_eq!(letters["dead_letters"][0]["attempts"], 2, "{letters}");

    // The session's server process outlives its client: end the transaction there.
    pg.query(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'BEGIN; LOCK TABLE orders%' AND pid <> pg_backend_pid()",
    );
    lock.kill().unwrap();
    lock.wait().unwrap();
    // The given-up mail is still unseen, and no longer in flight: a later scan publishes
    // it again, and now it is stored.
    wait_until(DEADLINE, "the order stored once the lock is gone", || {
        stored_orders(&pg) == 1
    });
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
}

/// The ACME orders a summary counts.
fn acme_orders(text: &str) -> u64 {
    text.lines()
        .filter_map(|line| line.split(",orders,ACME,").nth(1))
        .filter_map(|rest| rest.split(',').next()?.parse::<u64>().ok())
        .sum()
}

/// A summary's period, from its first data row, in seconds since the epoch.
fn period_seconds(text: &str) -> u64 {
    let row = text.lines().nth(1).unwrap();
    let mut fields = row.split(',');
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp();
    let (from, until) = (fields.next().unwrap(), fields.next().unwrap());
    u64::try_from(parse(until) - parse(from)).unwrap()
}

/// A bot stopped across occurrences of its summary catches them up when it starts again
/// (`missed: run_once`, the example's): one summary covers the whole gap, and every order
/// is counted in exactly one summary.
#[test]
fn summaries_missed_while_the_bot_was_down_are_caught_up_and_count_each_order_once() {
    const EVERY: u64 = 4;
    let dir = tempfile::tempdir().unwrap();
    let (config, addr) = summary_config(dir.path(), &format!("*/{EVERY} * * * * *"), "");
    let maildir = dir.path().join("data/Maildir");
    let env = [];
    let orders = |dir: &Path| listed(dir, "orders", &["--config", &config], &env).len();

    let bot = start_bot(dir.path(), &["--config", &config, "run"], &[]);
    wait_ready(&bot, addr);
    deliver_orders(&maildir, 2, "before");
    wait_until(DEADLINE, "the first orders stored", || {
        orders(dir.path()) == 2
    });
    wait_until(DEADLINE, "a summary written", || {
        !summaries(dir.path()).is_empty()
    });
    deliver_orders(&maildir, 3, "late");
    wait_until(DEADLINE, "the late orders stored", || {
        orders(dir.path()) == 5
    });
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
    let stopped = std::time::SystemTime::now();
    // Two occurrences pass while no bot runs.
    wait_until(DEADLINE, "two occurrences missed", || {
        stopped.elapsed().unwrap() > std::time::Duration::from_secs(2 * EVERY + 1)
    });

    let before_restart = summaries(dir.path()).len();
    let restarted = chrono::Utc::now();
    let bot = start_bot(dir.path(), &["--config", &config, "run"], &[]);
    wait_ready(&bot, addr);
    wait_until(DEADLINE, "the missed summaries caught up", || {
        summaries(dir.path())
            .values()
            .any(|text| period_seconds(text) > EVERY)
    });
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
    let written = summaries(dir.path());
    assert!(written.len() > before_restart, "{written:?}");
    let stopped = chrono::DateTime::<chrono::Utc>::from(stopped);
    let caught_up = written.keys().any(|name| {
        let stamp = name
            .trim_start_matches("orders-summary-")
            .trim_end_matches(".csv");
        chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ")
            .is_ok_and(|at| at.and_utc() > stopped && at.and_utc() < restarted)
    });
    assert!(
        caught_up,
        "a summary stands for an occurrence that passed while the bot was down: {:?}",
        written.keys().collect::<Vec<_>>()
    );
    let counted: u64 = written.values().map(|text| acme_orders(text)).sum();
    assert_eq!(
        counted, 5,
        "each order in exactly one summary: {written:#?}"
    );
}

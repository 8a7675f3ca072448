//! Limits held in Redis: the `Limiter` conformance suite, and three separate processes
//! (this test binary started three times) sharing one queue and one limiter: the hot key's
//! global rate holds within a small tolerance, its tasks never run two at once anywhere,
//! and the keys behind it are not starved.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::collections::{BTreeSet, HashMap};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plba_contracts::{Limiter, Limits, Rate, Task, TaskError, TaskHandler, TaskQueue, async_trait};
use plba_core::{RuntimeManager, RuntimeOptions};
use plba_redis::{RedisLimiter, RedisQueue};
use plba_testkit::limit::{SUITE_LIMITS, run_all};
use plba_testkit::module::FnModule;
use plba_testkit::process::{AppProcess, wait_until};
use plba_testkit::servers::RedisServer;
use plba_workers::QueueWorkerPool;

mod support;

use support::quick_options;

/// The child's cue: the Redis URL it works against.
const CHILD_ENV: &str = "PLBA_LIMITS_CHILD_REDIS";
/// Where the children record what they handled: `key|pid|start ms|end ms`.
const DONE: &str = "limits-test:done";
/// Set by the parent when every task is done: the children stop.
const STOP: &str = "limits-test:stop";

const HOT: usize = 40;
const COLD: usize = 30;
/// Every key's global rate: 10 a second, no burst; and one task at a time.
const RATE: u32 = 10;
/// How long a task takes: long enough that two at once would overlap visibly.
const WORK: Duration = Duration::from_millis(30);

fn limits() -> Limits {
    Limits {
        rate: Some(Rate::per_second(RATE)),
        concurrency: Some(1),
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

fn conn(url: &str) -> redis::Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_limiter_conforms() {
    let server = RedisServer::start().expect("redis-server is needed for the Redis tests");
    let limiter = || -> Arc<dyn Limiter> {
        Arc::new(
            RedisLimiter::new(
                &server.url(),
                "plba",
                "suite",
                SUITE_LIMITS,
                Duration::from_secs(60),
            )
            .unwrap(),
        )
    };
    run_all(limiter, "redis").await;
}

/// Works for [`WORK`], then records the task's key, this process's id, and when it started
/// and ended.
struct Recorder {
    url: String,
}

#[async_trait]
impl TaskHandler for Recorder {
    async fn handle(&self, task: &Task) -> Result<(), TaskError> {
        let start = now_ms();
        tokio::time::sleep(WORK).await;
        let entry = format!(
            "{}|{}|{start}|{}",
            task.limit_key().unwrap_or("-"),
            std::process::id(),
            now_ms()
        );
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("RPUSH")
            .arg(DONE)
            .arg(entry)
            .query_async::<i64>(&mut conn)
            .await
            .map_err(|e| TaskError::transient("recording failed").with_source(e))?;
        Ok(())
    }
}

/// Not a test of its own: the body of each child process of
/// `three_processes_share_a_global_rate_and_no_key_starves` (run with `--ignored` and the
/// child's environment; without it, it returns at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of the three-process limits test"]
async fn limits_child_process() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let queue = Arc::new(
        RedisQueue::connect("limited", quick_options(&url))
            .await
            .unwrap(),
    );
    let limiter = Arc::new(
        RedisLimiter::new(&url, "plba", "keys", limits(), Duration::from_secs(60)).unwrap(),
    );
    let pool = QueueWorkerPool::new("workers", queue, Arc::new(Recorder { url: url.clone() }))
        .concurrency(4)
        .limiter(limiter);
    let spec = std::sync::Mutex::new(Some(pool.into_spec()));
    let runtime = RuntimeManager::new(RuntimeOptions::default());
    runtime
        .register(&FnModule::new("limited", move |registry| {
            match plba_util::Unpoisoned::lock_or_recover(&spec).take() {
                Some(spec) => registry.add_worker(spec),
                None => Ok(()),
            }
        }))
        .await
        .unwrap();
    runtime.start().await.unwrap();
    let mut conn = conn(&url);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        let stop: bool = redis::cmd("EXISTS").arg(STOP).query(&mut conn).unwrap();
        if stop {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    runtime.stop().await;
}

/// What the children recorded: key, process, start and end.
fn done(url: &str) -> Vec<(String, u32, u64, u64)> {
    let entries: Vec<String> = redis::cmd("LRANGE")
        .arg(DONE)
        .arg(0)
        .arg(-1)
        .query(&mut conn(url))
        .unwrap();
    entries
        .iter()
        .map(|entry| {
            let mut parts = entry.split('|');
            (
                parts.next().unwrap().to_owned(),
                parts.next().unwrap().parse().unwrap(),
                parts.next().unwrap().parse().unwrap(),
                parts.next().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_a_global_rate_and_no_key_starves() {
    let server = RedisServer::start().expect("redis-server is needed for the Redis tests");
    let url = server.url();
    let queue = RedisQueue::connect("limited", quick_options(&url))
        .await
        .unwrap();
    // The hot key's tasks first, then one task each for thirty other keys, behind them.
    for n in 0..HOT {
        queue
            .publish(Task::new("job", n.to_string()).with_limit_key("hot"))
            .await
            .unwrap();
    }
    for n in 0..COLD {
        queue
            .publish(Task::new("job", n.to_string()).with_limit_key(format!("cold-{n}")))
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<AppProcess> = (0..3)
        .map(|n| {
            let mut command = Command::new(std::env::current_exe().unwrap());
            command
                .args([
                    "--exact",
                    "limits_child_process",
                    "--ignored",
                    "--nocapture",
                ])
                .env(CHILD_ENV, &url);
            AppProcess::spawn(command, &dir.path().join(format!("child-{n}.log")))
        })
        .collect();
    // Waiting on the children blocks: off the async threads.
    tokio::task::block_in_place(|| {
        wait_until(Duration::from_secs(60), "every task handled", || {
            done(&url).len() >= HOT + COLD
        });
        redis::cmd("SET")
            .arg(STOP)
            .arg(1)
            .query::<()>(&mut conn(&url))
            .unwrap();
        for child in children {
            let (status, log) = child.wait_exit(Duration::from_secs(30));
            assert!(status.success(), "child failed:\n{log}");
        }
    });

    let all = done(&url);
    assert_eq!(all.len(), HOT + COLD, "each task once");
    let mut hot_runs: Vec<(u64, u64)> = all
        .iter()
        .filter(|(key, ..)| key == "hot")
        .map(|(_, _, start, end)| (*start, *end))
        .collect();
    hot_runs.sort_unstable();
    for pair in hot_runs.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "two hot tasks ran at once (concurrency 1): {pair:?}"
        );
    }
    let hot: Vec<u64> = hot_runs.iter().map(|(start, _)| *start).collect();
    let pids: BTreeSet<u32> = all.iter().map(|(_, pid, ..)| *pid).collect();
    assert!(pids.len() >= 2, "the work was shared: {pids:?}");
    // The global rate: no one-second window holds more than the rate, give or take one
    // start (a handler records its start a moment after it was admitted).
    let most_in_a_second = hot
        .iter()
        .map(|start| {
            hot.iter()
                .filter(|t| **t >= *start && **t < start + 1_000)
                .count()
        })
        .max()
        .unwrap();
    let span = hot.last().unwrap() - hot.first().unwrap();
    eprintln!(
        "limits: {HOT} hot tasks over {span} ms, at most {most_in_a_second} in one second \
         (rate {RATE}/s), across processes {pids:?}"
    );
    assert!(
        most_in_a_second <= RATE as usize + 1,
        "{most_in_a_second} hot starts within one second: the global rate of {RATE}/s broke"
    );
    assert!(
        span >= u64::from(1_000 / RATE) * (HOT as u64 - 2),
        "{HOT} hot starts over only {span} ms"
    );
    // Not starved: every other key was done while the hot key still had most of its
    // tasks waiting.
    let last_cold = all
        .iter()
        .filter(|(key, ..)| key.starts_with("cold-"))
        .map(|(_, _, start, _)| *start)
        .max()
        .unwrap();
    let hot_done_by_then = hot.iter().filter(|t| **t <= last_cold).count();
    assert!(
        hot_done_by_then < HOT / 2,
        "the other keys waited behind the hot one: {hot_done_by_then} of {HOT} hot tasks \
         ran before the last of them"
    );
    let per_process: HashMap<u32, usize> = all.iter().fold(HashMap::new(), |mut m, (_, p, ..)| {
        *m.entry(*p).or_default() += 1;
        m
    });
    eprintln!("limits: tasks per process {per_process:?}");
}

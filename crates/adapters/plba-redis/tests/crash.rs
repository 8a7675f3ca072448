//! Two worker processes share one Redis queue; one is killed with SIGKILL mid-run. Every task
//! is handled at least once and acked exactly once; the number handled twice is reported and
//! bounded by what the killed process had in flight: the tasks in its handlers and the acks
//! it had queued but not written yet (at most `ack_window`).
//!
//! The worker processes are this test binary again, running the ignored
//! `child_worker_process` test with the queue's URL in the environment.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)] // test setup; the report is printed

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use plba_contracts::{
    CancellationToken, Task, TaskError, TaskHandler, TaskQueue, WorkerContext, async_trait,
};
use plba_redis::{RedisQueue, RedisQueueOptions};
use plba_testkit::servers::RedisServer;
use plba_testkit::wait::eventually_async;
use plba_workers::QueueWorkerPool;

mod support;

use support::quick_options;

const TASKS: usize = 10_000;
const CONCURRENCY: usize = 3;
/// Small, so the bound on repeated tasks is tight.
const ACK_WINDOW: usize = 8;
const CHILD_URL: &str = "PLBA_CRASH_TEST_REDIS_URL";

fn options(url: &str) -> RedisQueueOptions {
    RedisQueueOptions {
        max_attempts: 100,
        ack_window: ACK_WINDOW,
        ..quick_options(url)
    }
}

/// Counts every handling of every task in Redis, so the parent sees all processes' work.
struct Recorder {
    connection: redis::aio::MultiplexedConnection,
}

#[async_trait]
impl TaskHandler for Recorder {
    async fn handle(&self, task: &Task) -> Result<(), TaskError> {
        let mut conn = self.connection.clone();
        redis::cmd("HINCRBY")
            .arg("crash-test:handled")
            .arg(task.id.to_string())
            .arg(1)
            .query_async::<i64>(&mut conn)
            .await
            .map_err(|e| TaskError::transient("cannot record").with_source(e))?;
        // A little work, so the kill lands while tasks are in flight.
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs only as a child process of the crash test"]
async fn child_worker_process() {
    let url = std::env::var(CHILD_URL).expect("started by the crash test");
    let queue = Arc::new(RedisQueue::connect("crash", options(&url)).await.unwrap());
    let client = redis::Client::open(url.as_str()).unwrap();
    let recorder = Arc::new(Recorder {
        connection: client.get_multiplexed_async_connection().await.unwrap(),
    });
    let spec = QueueWorkerPool::new("crash-workers", queue, recorder)
        .concurrency(CONCURRENCY)
        .into_spec();
    let stop = CancellationToken::new();
    for copy in 0..spec.copies() {
        let worker = spec.build(copy);
        let ctx = WorkerContext::new(copy, stop.clone(), CancellationToken::new());
        tokio::spawn(async move { worker.run(ctx).await });
    }
    // Runs until the parent kills the process.
    std::future::pending::<()>().await;
}

fn spawn_child(url: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_worker_process",
            "--nocapture",
        ])
        .env(CHILD_URL, url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn handled(conn: &mut redis::aio::MultiplexedConnection) -> Vec<(String, u64)> {
    redis::cmd("HGETALL")
        .arg("crash-test:handled")
        .query_async(conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_process_loses_no_task() {
    let redis = RedisServer::start().expect("redis-server is needed");
    let url = redis.url();
    let queue = RedisQueue::connect("crash", options(&url)).await.unwrap();
    let mut ids = std::collections::HashSet::new();
    for i in 0..TASKS {
        let task = Task::new("crash.task", i.to_string());
        ids.insert(task.id.to_string());
        queue.publish(task).await.unwrap();
    }
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();

    let mut victim = spawn_child(&url);
    let mut survivor = spawn_child(&url);
    eventually_async(
        Duration::from_secs(60),
        "a third of the tasks handled",
        || {
            let mut conn = conn.clone();
            async move { handled(&mut conn).await.len() >= TASKS / 3 }
        },
    )
    .await;
    victim.kill().unwrap();
    victim.wait().unwrap();

    eventually_async(Duration::from_secs(120), "every task acked", || {
        let queue = queue.clone();
        async move {
            let stats = queue.stats().await.unwrap();
            usize::try_from(stats.acked).unwrap() >= TASKS
                && stats.depth == 0
                && stats.in_flight == 0
                && stats.delayed == 0
        }
    })
    .await;
    survivor.kill().unwrap();
    survivor.wait().unwrap();

    let stats = queue.stats().await.unwrap();
    assert!(
        stats.consumers.unwrap() >= 2,
        "both processes joined the group: {stats:?}"
    );
    assert_eq!(
        usize::try_from(stats.acked).unwrap(),
        TASKS,
        "acked exactly once each: {stats:?}"
    );
    assert_eq!(stats.dead, 0);
    let handled = handled(&mut conn).await;
    let seen: std::collections::HashSet<String> =
        handled.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(seen, ids, "every task handled at least once");
    let twice: Vec<&(String, u64)> = handled.iter().filter(|(_, n)| *n > 1).collect();
    eprintln!(
        "crash test: {} of {TASKS} tasks handled twice (the killed process's in-flight work)",
        twice.len()
    );
    assert!(
        twice.len() <= CONCURRENCY + ACK_WINDOW,
        "more duplicates than the killed process had in flight (handlers and unwritten acks): {}",
        twice.len()
    );
}

//! Tasks/s through the Redis queue with a QueueWorker pool (concurrency 3, no-op handler),
//! against raw Streams loops written with the same crate, in the same run on a private
//! redis-server. 1 producer, 3 consumers.
//!
//! - raw, batched (the baseline): `XADD` pipelined 100 at a time, `XREADGROUP COUNT 16`
//!   (the queue's default `prefetch`), one `XACK` per read;
//! - raw, unbatched: one `XADD`, `XREADGROUP COUNT 1` and `XACK` per task;
//! - the queue: the producer keeps 100 `publish` calls in flight (a burst, which the queue
//!   writes in shared transactions); timed until every ack is written (`stats` shows them).
//!
//! A second table drains a prefilled backlog (`PLBA_BENCH_BACKLOG`, default 100,000): the
//! queue against the batched raw loop, timed from the consumers' start until every task is
//! acked.
//!
//! `cargo bench -p plba-queue-redis --bench redis_throughput` (env `PLBA_BENCH_TASKS`,
//! default 20,000; `PLBA_BENCH_RUNS`, default 3). Prints Markdown tables of medians.

#![allow(clippy::print_stdout, clippy::expect_used)] // a bench prints its table; setup failures abort it

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use plba_contracts::{CancellationToken, Task, TaskQueue, WorkerContext, WorkerSpec};
use plba_queue_redis::{RedisQueue, RedisQueueOptions};
use plba_testkit::bench::{CountingNoop, Finish, env_u64, median, table_row};
use plba_testkit::servers::RedisServer;
use plba_workers::QueueWorkerPool;
use redis::Value;

const CONSUMERS: usize = 3;

/// Runs every copy of `spec` as the supervisor would (one tokio task each); the runtime
/// itself is not a dependency of an adapter crate.
fn run_pool(spec: &WorkerSpec) -> CancellationToken {
    let stop = CancellationToken::new();
    for copy in 0..spec.copies() {
        let worker = spec.build(copy);
        let ctx = WorkerContext::new(copy, stop.clone(), CancellationToken::new());
        tokio::spawn(async move { worker.run(ctx).await });
    }
    stop
}

fn payload() -> Vec<u8> {
    vec![b'x'; 100]
}

/// A client, a command connection, and `stream` with the raw loops' consumer group `g`.
async fn raw_stream(
    url: &str,
    stream: &str,
) -> anyhow::Result<(redis::Client, redis::aio::MultiplexedConnection)> {
    let client = redis::Client::open(url)?;
    let mut commands = client.get_multiplexed_async_connection().await?;
    // A group left from an earlier run answers BUSYGROUP, which is fine.
    let _: Result<Value, _> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg("g")
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut commands)
        .await;
    Ok((client, commands))
}

async fn raw_loop(url: &str, stream: &str, total: u64) -> anyhow::Result<Duration> {
    let (client, mut commands) = raw_stream(url, stream).await?;
    let finish = Finish::new(total);
    for consumer in 0..CONSUMERS {
        let client = client.clone();
        let finish = Arc::clone(&finish);
        let stream = stream.to_owned();
        tokio::spawn(async move {
            let config = redis::AsyncConnectionConfig::new()
                .set_response_timeout(Some(Duration::from_secs(10)));
            let mut reader = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            let mut acker = client.get_multiplexed_async_connection().await?;
            loop {
                let reply: Value = redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg("g")
                    .arg(format!("c{consumer}"))
                    .arg("COUNT")
                    .arg(1)
                    .arg("BLOCK")
                    .arg(1000)
                    .arg("STREAMS")
                    .arg(&stream)
                    .arg(">")
                    .query_async(&mut reader)
                    .await?;
                if let Some(id) = first_id(&reply) {
                    let _: Value = redis::cmd("XACK")
                        .arg(&stream)
                        .arg("g")
                        .arg(&id)
                        .query_async(&mut acker)
                        .await?;
                    finish.count();
                }
            }
            #[allow(unreachable_code)]
            anyhow::Ok(())
        });
    }
    let started = Instant::now();
    for _ in 0..total {
        let _: Value = redis::cmd("XADD")
            .arg(stream)
            .arg("*")
            .arg("payload")
            .arg(payload())
            .query_async(&mut commands)
            .await?;
    }
    finish.wait().await;
    Ok(started.elapsed())
}

/// Entries one batched read takes, as the queue's default `prefetch`.
const BATCH: usize = 16;

/// Publishes one producer keeps in flight, as the raw loop pipelines its `XADD`s.
const BURST: usize = 100;

/// Adds `total` raw entries to `stream`, `BURST` per pipeline.
async fn raw_fill(
    commands: &mut redis::aio::MultiplexedConnection,
    stream: &str,
    total: u64,
) -> anyhow::Result<()> {
    let mut left = total;
    while left > 0 {
        let n = left.min(BURST as u64);
        let mut pipe = redis::pipe();
        for _ in 0..n {
            pipe.cmd("XADD")
                .arg(stream)
                .arg("*")
                .arg("payload")
                .arg(payload())
                .ignore();
        }
        pipe.query_async::<()>(commands).await?;
        left -= n;
    }
    Ok(())
}

/// Starts the raw consumers: each reads `BATCH` entries at a time and acks each read's
/// entries with one `XACK`. With `block`, they wait for entries; without, each ends at the
/// first empty read.
fn raw_consumers(client: &redis::Client, stream: &str, finish: &Arc<Finish>, block: bool) {
    for consumer in 0..CONSUMERS {
        let client = client.clone();
        let finish = Arc::clone(finish);
        let stream = stream.to_owned();
        tokio::spawn(async move {
            let config = redis::AsyncConnectionConfig::new()
                .set_response_timeout(Some(Duration::from_secs(10)));
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            loop {
                let mut read = redis::cmd("XREADGROUP");
                read.arg("GROUP")
                    .arg("g")
                    .arg(format!("c{consumer}"))
                    .arg("COUNT")
                    .arg(BATCH);
                if block {
                    read.arg("BLOCK").arg(1000);
                }
                let reply: Value = read
                    .arg("STREAMS")
                    .arg(&stream)
                    .arg(">")
                    .query_async(&mut conn)
                    .await?;
                let ids = entry_ids(&reply);
                if ids.is_empty() {
                    if block {
                        continue;
                    }
                    return anyhow::Ok(());
                }
                let _: Value = redis::cmd("XACK")
                    .arg(&stream)
                    .arg("g")
                    .arg(&ids)
                    .query_async(&mut conn)
                    .await?;
                for _ in &ids {
                    finish.count();
                }
            }
        });
    }
}

/// 1 producer pipelining `XADD`s, 3 batched consumers, running together.
async fn raw_batched(url: &str, stream: &str, total: u64) -> anyhow::Result<Duration> {
    let (client, mut commands) = raw_stream(url, stream).await?;
    let finish = Finish::new(total);
    raw_consumers(&client, stream, &finish, true);
    let started = Instant::now();
    raw_fill(&mut commands, stream, total).await?;
    finish.wait().await;
    Ok(started.elapsed())
}

/// Drains a prefilled stream with the batched raw consumers.
async fn raw_drain(url: &str, stream: &str, total: u64) -> anyhow::Result<Duration> {
    let (client, mut commands) = raw_stream(url, stream).await?;
    raw_fill(&mut commands, stream, total).await?;
    let finish = Finish::new(total);
    let started = Instant::now();
    raw_consumers(&client, stream, &finish, false);
    finish.wait().await;
    Ok(started.elapsed())
}

async fn connect(url: &str, name: &str) -> anyhow::Result<Arc<RedisQueue>> {
    let options = RedisQueueOptions {
        url: url.to_owned(),
        ..RedisQueueOptions::default()
    };
    Ok(Arc::new(RedisQueue::connect(name, options).await?))
}

/// Publishes `total` tasks keeping `BURST` publishes in flight.
async fn publish_burst(queue: &RedisQueue, total: u64) -> anyhow::Result<()> {
    futures_util::stream::iter(0..total)
        .map(|_| queue.publish(Task::new("bench.task", payload())))
        .buffer_unordered(BURST)
        .try_collect::<()>()
        .await?;
    Ok(())
}

/// A QueueWorker pool of `CONSUMERS` over `queue`, counting handled tasks on `finish`.
fn queue_pool(queue: &Arc<RedisQueue>, finish: &Arc<Finish>) -> CancellationToken {
    let spec = QueueWorkerPool::new(
        "bench",
        Arc::clone(queue),
        Arc::new(CountingNoop(Arc::clone(finish))),
    )
    .concurrency(CONSUMERS)
    .into_spec();
    run_pool(&spec)
}

/// Waits until Redis counts `total` acks: handled is not done until the ack is written.
async fn all_acked(queue: &RedisQueue, total: u64) -> anyhow::Result<()> {
    while queue.stats().await?.acked < total {
        tokio::task::yield_now().await;
    }
    Ok(())
}

/// Drains a backlog published beforehand through the queue, with a QueueWorker pool.
async fn queue_drain(url: &str, name: &str, total: u64) -> anyhow::Result<Duration> {
    let queue = connect(url, name).await?;
    publish_burst(&queue, total).await?;
    let finish = Finish::new(total);
    let started = Instant::now();
    let stop = queue_pool(&queue, &finish);
    finish.wait().await;
    all_acked(&queue, total).await?;
    let elapsed = started.elapsed();
    stop.cancel();
    Ok(elapsed)
}

/// The ids of every entry in an `XREADGROUP` reply.
fn entry_ids(reply: &Value) -> Vec<String> {
    let Value::Array(streams) = reply else {
        return Vec::new();
    };
    let Some(Value::Array(pair)) = streams.first() else {
        return Vec::new();
    };
    let Some(Value::Array(entries)) = pair.get(1) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| match entry {
            Value::Array(fields) => match fields.first() {
                Some(Value::BulkString(id)) => Some(String::from_utf8_lossy(id).into_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn first_id(reply: &Value) -> Option<String> {
    let Value::Array(streams) = reply else {
        return None;
    };
    let Value::Array(pair) = streams.first()? else {
        return None;
    };
    let Value::Array(entries) = pair.get(1)? else {
        return None;
    };
    let Value::Array(entry) = entries.first()? else {
        return None;
    };
    match entry.first()? {
        Value::BulkString(id) => Some(String::from_utf8_lossy(id).into_owned()),
        _ => None,
    }
}

async fn queue_path(url: &str, name: &str, total: u64) -> anyhow::Result<Duration> {
    let queue = connect(url, name).await?;
    let finish = Finish::new(total);
    let stop = queue_pool(&queue, &finish);
    let started = Instant::now();
    publish_burst(&queue, total).await?;
    finish.wait().await;
    all_acked(&queue, total).await?;
    let elapsed = started.elapsed();
    stop.cancel();
    Ok(elapsed)
}

fn main() -> anyhow::Result<()> {
    let total = env_u64("PLBA_BENCH_TASKS", 20_000)?;
    let runs = env_u64("PLBA_BENCH_RUNS", 3)?.max(1);
    let backlog = env_u64("PLBA_BENCH_BACKLOG", 100_000)?;
    let server = RedisServer::start().expect("redis-server is needed for this bench");
    let url = server.url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let [batched, unbatched, queue, raw_drains, queue_drains] = runtime.block_on(async {
        raw_batched(&url, "warmup-raw", total / 10).await?;
        queue_path(&url, "warmup", total / 10).await?;
        let mut rates: [Vec<f64>; 5] = Default::default();
        for run in 0..runs {
            let timed = [
                (
                    total,
                    raw_batched(&url, &format!("raw-{run}"), total).await?,
                ),
                (total, raw_loop(&url, &format!("raw-1-{run}"), total).await?),
                (
                    total,
                    queue_path(&url, &format!("queue-{run}"), total).await?,
                ),
                (
                    backlog,
                    raw_drain(&url, &format!("raw-drain-{run}"), backlog).await?,
                ),
                (
                    backlog,
                    queue_drain(&url, &format!("queue-drain-{run}"), backlog).await?,
                ),
            ];
            for (rates, (tasks, elapsed)) in rates.iter_mut().zip(timed) {
                rates.push(rate(tasks, elapsed));
            }
        }
        anyhow::Ok(rates)
    })?;
    println!(
        "tasks per run: {total}, runs: {runs}, tokio worker threads: 2, consumers: {CONSUMERS}, redis-server on loopback"
    );
    println!();
    table(&[
        (
            "raw: XADD ×100 pipelined / XREADGROUP COUNT 16 / XACK per read",
            &batched,
        ),
        ("raw: XADD / XREADGROUP COUNT 1 / XACK per task", &unbatched),
        (
            "RedisQueue → QueueWorker ×3 (no-op handler; 100 publishes in flight)",
            &queue,
        ),
    ]);
    println!();
    println!("Draining a backlog of {backlog} tasks (consumers start after it is filled):");
    println!();
    table(&[
        ("raw: XREADGROUP COUNT 16 / XACK per read, ×3", &raw_drains),
        ("RedisQueue → QueueWorker ×3 (defaults)", &queue_drains),
    ]);
    Ok(())
}

/// Tasks per second.
fn rate(tasks: u64, elapsed: Duration) -> f64 {
    tasks as f64 / elapsed.as_secs_f64()
}

/// A Markdown table of `rows`, the first being the baseline.
fn table(rows: &[(&str, &Vec<f64>)]) {
    let baseline = median(rows[0].1);
    println!("| path | median tasks/s | min | max | vs first row |");
    println!("|---|---:|---:|---:|---:|");
    for (name, values) in rows {
        println!("{}", table_row(name, values, baseline));
    }
}

//! Tasks/s through the Redis queue with a QueueWorker pool (concurrency 3, no-op handler),
//! against a raw XADD / XREADGROUP / XACK loop written with the same crate and the same
//! batching (one command per task per step, 1 producer, 3 consumers), in the same run on a
//! private redis-server.
//!
//! `cargo bench -p plba-queue-redis --bench redis_throughput` (env `PLBA_BENCH_TASKS`,
//! default 20,000; `PLBA_BENCH_RUNS`, default 3). Prints a Markdown table of medians.

#![allow(clippy::print_stdout, clippy::expect_used)] // a bench prints its table; setup failures abort it

use std::sync::Arc;
use std::time::{Duration, Instant};

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

async fn raw_loop(url: &str, stream: &str, total: u64) -> anyhow::Result<Duration> {
    let client = redis::Client::open(url)?;
    let mut commands = client.get_multiplexed_async_connection().await?;
    let _: Result<Value, _> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg("g")
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut commands)
        .await;
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
    let options = RedisQueueOptions {
        url: url.to_owned(),
        ..RedisQueueOptions::default()
    };
    let queue = Arc::new(RedisQueue::connect(name, options).await?);
    let finish = Finish::new(total);
    let spec = QueueWorkerPool::new(
        "bench",
        queue.clone(),
        Arc::new(CountingNoop(Arc::clone(&finish))),
    )
    .concurrency(CONSUMERS)
    .into_spec();
    let stop = run_pool(&spec);
    let started = Instant::now();
    for _ in 0..total {
        queue.publish(Task::new("bench.task", payload())).await?;
    }
    finish.wait().await;
    let elapsed = started.elapsed();
    stop.cancel();
    Ok(elapsed)
}

fn main() -> anyhow::Result<()> {
    let total = env_u64("PLBA_BENCH_TASKS", 20_000)?;
    let runs = env_u64("PLBA_BENCH_RUNS", 3)?.max(1);
    let server = RedisServer::start().expect("redis-server is needed for this bench");
    let url = server.url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (raw, queue) = runtime.block_on(async {
        raw_loop(&url, "warmup-raw", total / 10).await?;
        queue_path(&url, "warmup", total / 10).await?;
        let (mut raw, mut queue) = (Vec::new(), Vec::new());
        for run in 0..runs {
            raw.push(
                total as f64
                    / raw_loop(&url, &format!("raw-{run}"), total)
                        .await?
                        .as_secs_f64(),
            );
            queue.push(
                total as f64
                    / queue_path(&url, &format!("queue-{run}"), total)
                        .await?
                        .as_secs_f64(),
            );
        }
        anyhow::Ok((raw, queue))
    })?;
    let raw_median = median(&raw);
    println!(
        "tasks per run: {total}, runs: {runs}, tokio worker threads: 2, consumers: {CONSUMERS}, redis-server on loopback"
    );
    println!();
    println!("| path | median tasks/s | min | max | vs raw |");
    println!("|---|---:|---:|---:|---:|");
    for (name, values) in [
        ("raw XADD / XREADGROUP COUNT 1 / XACK loop", &raw),
        ("RedisQueue → QueueWorker ×3 (no-op handler, ack)", &queue),
    ] {
        println!("{}", table_row(name, values, raw_median));
    }
    Ok(())
}

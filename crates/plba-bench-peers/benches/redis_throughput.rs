//! Tasks/s through the Redis queue with a QueueWorker pool (concurrency 3, no-op handler),
//! against raw Streams loops (this crate's library) and apalis-redis 1.0, in the same run on
//! a private redis-server. 1 producer, 3 consumers, 100-byte payloads.
//!
//! - raw, batched (the baseline): `XADD` pipelined 100 at a time, `XREADGROUP COUNT 16`
//!   (the queue's default `prefetch`), one `XACK` per read;
//! - raw, unbatched: one `XADD`, `XREADGROUP COUNT 1` and `XACK` per task;
//! - the queue: the producer keeps 100 `publish` calls in flight (a burst, which the queue
//!   writes in shared transactions); timed until every ack is written (`stats` counts it);
//! - apalis-redis with its defaults, and with `lock_tasks(false)`, its fastest configuration
//!   here (turning result persistence or events off makes its fetch script fail); 3 handlers
//!   in parallel, the producer pushing one job at a time as its API does.
//!
//! A second table drains a prefilled backlog (`PLBA_BENCH_BACKLOG`, default 100,000),
//! timed from the consumers' start until every task is acked.
//!
//! Two more tables run 1 to 3 processes sharing one stream, live and draining, each beside
//! the raw consumers in as many processes and with Redis's own CPU time (`shared_stream`).
//!
//! `cargo bench -p plba-bench-peers --bench redis_throughput` (env `PLBA_BENCH_TASKS`,
//! default 20,000; `PLBA_BENCH_RUNS`, default 3; `PLBA_BENCH_PEERS=0` leaves apalis-redis
//! out; `PLBA_BENCH_PROCESSES`, default 3, the most processes sharing a stream, 0 for none;
//! `PLBA_BENCH_ONLY=processes` runs only the shared-stream tables). Prints Markdown tables
//! of medians.

#![allow(clippy::print_stdout, clippy::expect_used)] // a bench prints its table; setup failures abort it

use std::sync::Arc;
use std::time::{Duration, Instant};

use apalis::layers::WorkerBuilderExt as _;
use apalis::prelude::{BoxDynError, Data, ParallelizeExt as _, TaskSink, WorkerBuilder};
use apalis_redis::{Config, RedisStorage};
use futures_util::{StreamExt, TryStreamExt};
use plba_bench_peers::{BURST, CONSUMERS, payload};
use plba_contracts::{CancellationToken, Task, TaskQueue, WorkerContext, WorkerSpec};
use plba_redis::{RedisQueue, RedisQueueOptions};
use plba_testkit::bench::{CountingNoop, Finish, env_u64, median};
use plba_testkit::servers::RedisServer;
use plba_workers::QueueWorkerPool;

#[path = "shared_stream/processes.rs"]
mod processes;

/// The allocator the launchers ship (`plba::Allocator`): measured as deployed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Longest a peer gets to drain the backlog before its row says it did not.
const PEER_PATIENCE: Duration = Duration::from_secs(120);

/// Runs every copy of `spec` as the supervisor would (one tokio task each); the runtime
/// itself is not needed to measure a queue.
fn run_pool(spec: &WorkerSpec) -> CancellationToken {
    let stop = CancellationToken::new();
    for copy in 0..spec.copies() {
        let worker = spec.build(copy);
        let ctx = WorkerContext::new(copy, stop.clone(), CancellationToken::new());
        tokio::spawn(async move { worker.run(ctx).await });
    }
    stop
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
        .try_for_each(|_| async { Ok(()) })
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

/// The producer and the pool running together.
async fn queue_live(url: &str, name: &str, total: u64) -> anyhow::Result<Duration> {
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

/// A backlog published beforehand (untimed), drained by the pool.
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

/// apalis's handler: a no-op that counts.
async fn apalis_noop(_job: Vec<u8>, finish: Data<Arc<Finish>>) -> Result<(), BoxDynError> {
    finish.count();
    Ok(())
}

/// apalis-redis on queue `name`, tuned (`lock_tasks(false)`) or with its defaults.
async fn apalis_storage(
    url: &str,
    name: &str,
    tuned: bool,
) -> anyhow::Result<RedisStorage<Vec<u8>>> {
    let conn = apalis_redis::connect(url).await?;
    let mut config = Config::default().queue(name);
    if tuned {
        config = config.lock_tasks(false);
    }
    Ok(RedisStorage::new(conn).with_config(config))
}

/// Pushes `total` jobs, one call each.
async fn apalis_push(mut storage: RedisStorage<Vec<u8>>, total: u64) -> anyhow::Result<()> {
    for _ in 0..total {
        storage
            .push(payload())
            .await
            .map_err(|e| anyhow::anyhow!("apalis push failed: {e}"))?;
    }
    Ok(())
}

/// Runs an apalis worker (3 handlers in parallel) until `finish` is reached, alongside
/// `producer`; the worker future is not `Send`, so it runs here rather than spawned.
async fn apalis_run(
    storage: RedisStorage<Vec<u8>>,
    finish: &Arc<Finish>,
    producer: impl Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let worker = WorkerBuilder::new("bench")
        .backend(storage)
        .data(Arc::clone(finish))
        .parallelize(tokio::spawn)
        .concurrency(CONSUMERS)
        .build(apalis_noop);
    let produced = async {
        producer.await?;
        finish.wait().await;
        anyhow::Ok(())
    };
    tokio::select! {
        ended = worker.run() => Err(anyhow::anyhow!("the apalis worker stopped: {ended:?}")),
        done = tokio::time::timeout(PEER_PATIENCE, produced) => {
            done.map_err(|_| anyhow::anyhow!("did not finish within {PEER_PATIENCE:?}"))?
        }
    }
}

async fn apalis_live(url: &str, name: &str, total: u64, tuned: bool) -> anyhow::Result<Duration> {
    let storage = apalis_storage(url, name, tuned).await?;
    let finish = Finish::new(total);
    let started = Instant::now();
    let producer = tokio::spawn(apalis_push(storage.clone(), total));
    apalis_run(storage, &finish, async { producer.await? }).await?;
    Ok(started.elapsed())
}

async fn apalis_drain(url: &str, name: &str, total: u64, tuned: bool) -> anyhow::Result<Duration> {
    let storage = apalis_storage(url, name, tuned).await?;
    apalis_push(storage.clone(), total).await?;
    let finish = Finish::new(total);
    let started = Instant::now();
    apalis_run(storage, &finish, async { Ok(()) }).await?;
    Ok(started.elapsed())
}

/// One table row's measurements: a rate per run that finished, and why the others failed.
#[derive(Default)]
struct Row {
    rates: Vec<f64>,
    failures: Vec<String>,
}

impl Row {
    fn record(&mut self, tasks: u64, timed: anyhow::Result<Duration>) {
        match timed {
            Ok(elapsed) => self.rates.push(tasks as f64 / elapsed.as_secs_f64()),
            Err(error) => self.failures.push(format!("{error:#}")),
        }
    }
}

fn main() -> anyhow::Result<()> {
    if processes::child()? {
        return Ok(());
    }
    let total = env_u64("PLBA_BENCH_TASKS", 20_000)?;
    let runs = env_u64("PLBA_BENCH_RUNS", 3)?.max(1);
    let backlog = env_u64("PLBA_BENCH_BACKLOG", 100_000)?;
    // `PLBA_BENCH_PEERS=0` leaves apalis-redis out (its backlog rows take minutes to fail).
    let peers = env_u64("PLBA_BENCH_PEERS", 1)? != 0;
    let max_processes = usize::try_from(env_u64("PLBA_BENCH_PROCESSES", 3)?)?;
    let only_processes = std::env::var("PLBA_BENCH_ONLY").is_ok_and(|only| only == "processes");
    let server = RedisServer::start().expect("redis-server is needed for this bench");
    let url = server.url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if !only_processes {
        single_process(&runtime, &url, total, runs, backlog, peers)?;
    }
    if max_processes > 0 {
        runtime.block_on(processes::tables(&url, total, backlog, max_processes, runs));
    }
    Ok(())
}

/// The tables of one process: the queue, the raw loops and apalis-redis, live and draining.
fn single_process(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    total: u64,
    runs: u64,
    backlog: u64,
    peers: bool,
) -> anyhow::Result<()> {
    let mut live: [Row; 5] = Default::default();
    let mut drains: [Row; 4] = Default::default();
    runtime.block_on(async {
        plba_bench_peers::batched(url, "warmup-raw", total / 10).await?;
        queue_live(url, "warmup", total / 10).await?;
        for run in 0..runs {
            let raw = |what: &str| format!("raw-{what}-{run}");
            live[0].record(
                total,
                Ok(plba_bench_peers::batched(url, &raw("batched"), total).await?),
            );
            live[1].record(
                total,
                Ok(plba_bench_peers::unbatched(url, &raw("unbatched"), total).await?),
            );
            live[2].record(total, queue_live(url, &format!("queue-{run}"), total).await);
            if peers {
                live[3].record(
                    total,
                    apalis_live(url, &format!("apalis-{run}"), total, false).await,
                );
                live[4].record(
                    total,
                    apalis_live(url, &format!("apalis-tuned-{run}"), total, true).await,
                );
            }
            drains[0].record(
                backlog,
                Ok(plba_bench_peers::drain(url, &raw("drain"), backlog).await?),
            );
            drains[1].record(
                backlog,
                queue_drain(url, &format!("queue-drain-{run}"), backlog).await,
            );
            if peers {
                drains[2].record(
                    backlog,
                    apalis_drain(url, &format!("apalis-drain-{run}"), backlog, false).await,
                );
                drains[3].record(
                    backlog,
                    apalis_drain(url, &format!("apalis-tuned-drain-{run}"), backlog, true).await,
                );
            }
        }
        anyhow::Ok(())
    })?;
    println!(
        "tasks per run: {total}, runs: {runs}, tokio worker threads: 2, consumers: {CONSUMERS}, redis-server on loopback"
    );
    println!();
    table(&[
        (
            "raw: XADD ×100 pipelined / XREADGROUP COUNT 16 / XACK per read",
            &live[0],
        ),
        ("raw: XADD / XREADGROUP COUNT 1 / XACK per task", &live[1]),
        (
            "RedisQueue → QueueWorker ×3 (defaults; 100 publishes in flight)",
            &live[2],
        ),
        ("apalis-redis 1.0, defaults", &live[3]),
        ("apalis-redis 1.0, lock_tasks(false)", &live[4]),
    ]);
    let apalis_best = median(&live[3].rates).max(median(&live[4].rates));
    if apalis_best.is_finite() {
        println!();
        println!(
            "RedisQueue / apalis-redis at its best: {:.1}×",
            median(&live[2].rates) / apalis_best
        );
    }
    println!();
    println!("Draining a backlog of {backlog} tasks (consumers start after it is filled):");
    println!();
    table(&[
        ("raw: XREADGROUP COUNT 16 / XACK per read, ×3", &drains[0]),
        ("RedisQueue → QueueWorker ×3 (defaults)", &drains[1]),
        ("apalis-redis 1.0, defaults", &drains[2]),
        ("apalis-redis 1.0, lock_tasks(false)", &drains[3]),
    ]);
    Ok(())
}

/// A Markdown table of `rows`, the first being the baseline; a row with a failed run says
/// why instead of a rate.
fn table(rows: &[(&str, &Row)]) {
    let baseline = median(&rows[0].1.rates);
    println!("| path | median tasks/s | min | max | vs first row |");
    println!("|---|---:|---:|---:|---:|");
    // Rows not measured (`PLBA_BENCH_PEERS=0`) are left out.
    for (name, row) in rows
        .iter()
        .filter(|(_, row)| !row.rates.is_empty() || !row.failures.is_empty())
    {
        let Some(failure) = row.failures.first() else {
            println!(
                "{}",
                plba_testkit::bench::table_row(name, &row.rates, baseline)
            );
            continue;
        };
        // The first failure, short and without the table's separator.
        let failure: String = failure.replace('|', "/").chars().take(160).collect();
        let failed = row.failures.len();
        let runs = failed + row.rates.len();
        let name = format!("{name} — failed in {failed} of {runs} runs: {failure}");
        if row.rates.is_empty() {
            println!("| {name} | – | | | |");
        } else {
            println!(
                "{}",
                plba_testkit::bench::table_row(&name, &row.rates, baseline)
            );
        }
    }
}

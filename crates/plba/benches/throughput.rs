//! Throughput of the in-process path: tasks/s through memory queue → QueueWorker pool
//! (concurrency 3, no-op handler, ack), against a raw async-channel loop with the same task
//! shape (1 producer, 3 consumers) measured in the same run.
//!
//! `cargo bench -p plba --bench throughput` (env: `PLBA_BENCH_TASKS`, default 1,000,000;
//! `PLBA_BENCH_RUNS`, default 5). Prints a Markdown table of medians.

#![allow(clippy::print_stdout)] // a bench binary's job is to print its table

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use plba::config::{LogConfig, PlatformConfig};
use plba::contracts::{NoopTaskTracer, Task, TaskQueue, TaskTracer};
use plba::queue_memory::{MemoryQueue, MemoryQueueOptions};
use plba::telemetry::Telemetry;
use plba::workers::QueueWorkerPool;
use plba::{RuntimeManager, RuntimeOptions};
use plba_testkit::bench::{CountingNoop, Finish, env_u64, median, table_row};
use plba_testkit::module::FnModule;
use tracing::Instrument;

const CAPACITY: usize = 1024;
const CONSUMERS: usize = 3;
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The task shape both paths carry: fresh id, static name, 100-byte payload, a traceparent.
fn make_task() -> Task {
    Task::new("bench.task", Bytes::from(vec![b'x'; 100])).with_metadata("traceparent", TRACEPARENT)
}

async fn raw_loop(total: u64) -> Duration {
    let (tx, rx) = async_channel::bounded::<Task>(CAPACITY);
    let finish = Finish::new(total);
    for _ in 0..CONSUMERS {
        let rx = rx.clone();
        let finish = Arc::clone(&finish);
        tokio::spawn(async move {
            while let Ok(task) = rx.recv().await {
                drop(task);
                finish.count();
            }
        });
    }
    let started = Instant::now();
    tokio::spawn(async move {
        for _ in 0..total {
            if tx.send(make_task()).await.is_err() {
                return;
            }
        }
    });
    finish.wait().await;
    started.elapsed()
}

/// The runtime path; with `tracer`, every task gets a producer span (injected traceparent)
/// and its handler runs in a consumer span.
async fn runtime_path(total: u64, tracer: Option<Arc<dyn TaskTracer>>) -> anyhow::Result<Duration> {
    let queue = Arc::new(MemoryQueue::new(
        "bench",
        MemoryQueueOptions {
            capacity: CAPACITY,
            ..MemoryQueueOptions::default()
        },
    )?);
    let finish = Finish::new(total);
    let spec = QueueWorkerPool::new(
        "bench-workers",
        Arc::clone(&queue),
        Arc::new(CountingNoop(Arc::clone(&finish))),
    )
    .concurrency(CONSUMERS)
    .tracer(tracer.clone().unwrap_or_else(NoopTaskTracer::shared))
    .into_spec();
    let module_queue = Arc::clone(&queue);
    let module = FnModule::new("bench", move |registry| {
        registry.add_queue(module_queue.clone())?;
        registry.add_worker(spec.clone())
    });
    let runtime = RuntimeManager::new(RuntimeOptions::default());
    runtime.register(&module).await?;
    runtime.start().await?;
    let started = Instant::now();
    let producer_queue = Arc::clone(&queue);
    tokio::spawn(async move {
        for _ in 0..total {
            let mut task = make_task();
            let published = match &tracer {
                Some(tracer) => {
                    let span = tracer.publish_span("bench", &mut task);
                    producer_queue.publish(task).instrument(span).await
                }
                None => producer_queue.publish(task).await,
            };
            if published.is_err() {
                return;
            }
        }
    });
    finish.wait().await;
    let elapsed = started.elapsed();
    runtime.stop().await;
    let acked = queue.stats().await?.acked;
    anyhow::ensure!(acked == total, "only {acked} of {total} tasks were acked");
    Ok(elapsed)
}

fn main() -> anyhow::Result<()> {
    let total = env_u64("PLBA_BENCH_TASKS", 1_000_000)?;
    let runs = env_u64("PLBA_BENCH_RUNS", 5)?.max(1);
    // The default platform tracing (OTel spans, exporter none) with logs at warn, as a
    // production process would run; the untraced paths pay only for an idle subscriber.
    let log = LogConfig {
        level: "warn".to_owned(),
        ..LogConfig::default()
    };
    let trace_service = Telemetry::install(&PlatformConfig::default(), &log)?;
    let tracer = trace_service.task_tracer();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (mut raw, mut plain, mut traced) = (Vec::new(), Vec::new(), Vec::new());
    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    runtime.block_on(async {
        // Warm-up: allocator pools, thread start-up.
        raw_loop(total / 10).await;
        runtime_path(total / 10, None).await?;
        runtime_path(total / 10, Some(Arc::clone(&tracer))).await?;
        for _ in 0..runs {
            // Interleave so machine noise hits every path alike.
            raw.push(rate(raw_loop(total).await));
            plain.push(rate(runtime_path(total, None).await?));
            traced.push(rate(runtime_path(total, Some(Arc::clone(&tracer))).await?));
        }
        anyhow::Ok(())
    })?;
    let raw_median = median(&raw);
    println!(
        "tasks per run: {total}, runs: {runs}, tokio worker threads: 2, consumers: {CONSUMERS}"
    );
    println!();
    println!("| path | median tasks/s | min | max | vs raw |");
    println!("|---|---:|---:|---:|---:|");
    for (name, values) in [
        ("raw async-channel loop (1 producer, 3 consumers)", &raw),
        ("MemoryQueue → QueueWorker ×3 (no-op handler, ack)", &plain),
        (
            "same, with task tracing (traceparent and recent-trace record; exporter none)",
            &traced,
        ),
    ] {
        println!("{}", table_row(name, values, raw_median));
    }
    Ok(())
}

//! Throughput of the in-process path: tasks/s through memory queue → QueueWorker pool
//! (concurrency 3, no-op handler, ack), against a raw async-channel loop with the same task
//! shape (1 producer, 3 consumers) measured in the same run.
//!
//! `cargo bench -p plba --bench throughput` (env: `PLBA_BENCH_TASKS`, default 1,000,000;
//! `PLBA_BENCH_RUNS`, default 5; `PLBA_BENCH_ONLY=raw|plain|traced` measures one path, for a
//! profiler). Prints a Markdown table of medians.

#![allow(clippy::print_stdout)] // a bench binary's job is to print its table

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use plba::config::{LogConfig, PlatformConfig, TraceExporter};
use plba::contracts::{NoopTaskTracer, Task, TaskQueue, TaskTracer};
use plba::queue_memory::{MemoryQueue, MemoryQueueOptions};
use plba::telemetry::Telemetry;
use plba::workers::QueueWorkerPool;
use plba::{RuntimeManager, RuntimeOptions};
use plba_testkit::bench::{CountingNoop, Finish, env_u64, median, table_row};
use plba_testkit::module::FnModule;
use tracing::Instrument;

/// The allocator the launchers ship: the bench measures what a deployed process runs.
#[global_allocator]
static ALLOCATOR: plba::Allocator = plba::Allocator;

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

/// What the OTLP child process is told: where its collector listens.
const OTLP_ENDPOINT_ENV: &str = "PLBA_BENCH_OTLP_ENDPOINT";
/// The sample ratio of the OTLP rows.
const OTLP_SAMPLE_RATIO: f64 = 0.01;

fn main() -> anyhow::Result<()> {
    let total = env_u64("PLBA_BENCH_TASKS", 1_000_000)?;
    let runs = env_u64("PLBA_BENCH_RUNS", 5)?.max(1);
    // One path alone, for a profiler: `raw`, `plain` or `traced`.
    let only = std::env::var("PLBA_BENCH_ONLY").ok();
    let only = only.as_deref();
    // The subscriber is the process's: the OTLP rows run in a child process of this bench
    // with the exporter configured, and report back on stdout.
    let otlp = std::env::var(OTLP_ENDPOINT_ENV).ok();
    let mut platform = PlatformConfig::default();
    if let Some(endpoint) = &otlp {
        platform.tracing.exporter = TraceExporter::Otlp;
        platform.tracing.sample_ratio = OTLP_SAMPLE_RATIO;
        platform.tracing.otlp.endpoint.clone_from(endpoint);
    }
    // The default platform tracing (OTel spans, exporter none) with logs at warn, as a
    // production process would run; the untraced paths pay only for an idle subscriber.
    let log = LogConfig {
        level: "warn".to_owned(),
        ..LogConfig::default()
    };
    let trace_service = Telemetry::install(&platform, &log)?;
    let tracer = trace_service.task_tracer();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (mut raw, mut plain, mut traced) = (Vec::new(), Vec::new(), Vec::new());
    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    let measure_raw = otlp.is_none() && only.is_none_or(|only| only == "raw");
    runtime.block_on(async {
        // Warm-up: allocator pools, thread start-up.
        raw_loop(total / 10).await;
        runtime_path(total / 10, None).await?;
        runtime_path(total / 10, Some(Arc::clone(&tracer))).await?;
        for _ in 0..runs {
            // Interleave so machine noise hits every path alike.
            if measure_raw {
                raw.push(rate(raw_loop(total).await));
            }
            if only.is_none_or(|only| only == "plain") {
                plain.push(rate(runtime_path(total, None).await?));
            }
            if only.is_none_or(|only| only == "traced") {
                traced.push(rate(runtime_path(total, Some(Arc::clone(&tracer))).await?));
            }
        }
        anyhow::Ok(())
    })?;
    if otlp.is_some() {
        trace_service.shutdown();
        println!("untraced {}", join(&plain));
        println!("traced {}", join(&traced));
        return Ok(());
    }
    let (otlp_plain, otlp_traced, exported) = if only.is_none() {
        runtime.block_on(otlp_child(total, runs))?
    } else {
        (Vec::new(), Vec::new(), 0)
    };
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
    println!();
    println!(
        "Traced (exporter none) vs untraced: {:.2}",
        median(&traced) / median(&plain)
    );
    if !otlp_plain.is_empty() {
        println!();
        println!(
            "In a second process with an OTLP exporter (sample ratio {OTLP_SAMPLE_RATIO}) to a \
             collector on loopback, which received {exported} spans:"
        );
        println!();
        println!("| path | median tasks/s | min | max | vs untraced |");
        println!("|---|---:|---:|---:|---:|");
        let untraced = median(&otlp_plain);
        println!(
            "{}",
            table_row(
                "MemoryQueue → QueueWorker ×3 (no-op handler, ack)",
                &otlp_plain,
                untraced
            )
        );
        println!(
            "{}",
            table_row(
                "same, with task tracing (OTLP exporter, 1 % sampled)",
                &otlp_traced,
                untraced
            )
        );
    }
    Ok(())
}

fn join(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.0}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs this bench again as a child process with an OTLP exporter pointed at a collector
/// here; returns its untraced and traced rates and how many spans the collector received.
async fn otlp_child(total: u64, runs: u64) -> anyhow::Result<(Vec<f64>, Vec<f64>, usize)> {
    let collector = plba_testkit::otlp::OtlpReceiver::start().await;
    let exe = std::env::current_exe()?;
    let endpoint = collector.endpoint();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(exe)
            .arg("--bench")
            .env(OTLP_ENDPOINT_ENV, endpoint)
            .env("PLBA_BENCH_TASKS", total.to_string())
            .env("PLBA_BENCH_RUNS", runs.to_string())
            .output()
    })
    .await??;
    anyhow::ensure!(
        output.status.success(),
        "the OTLP run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout)?;
    let values = |label: &str| -> anyhow::Result<Vec<f64>> {
        let line = stdout
            .lines()
            .find_map(|line| line.strip_prefix(label))
            .ok_or_else(|| anyhow::anyhow!("the OTLP run printed no {label:?} line: {stdout}"))?;
        Ok(line
            .trim()
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()?)
    };
    Ok((
        values("untraced ")?,
        values("traced ")?,
        collector.spans().len(),
    ))
}

//! A small PLBA application: a producer publishes an order every 200 ms into a memory queue,
//! a pool of three QueueWorkers handles them, and a reporter logs the queue's stats. Ctrl-C
//! (or SIGTERM) stops it gracefully; a second Ctrl-C forces the stop.
//!
//! `cargo run -p plba --example demo` (add `-- --seconds 5` to stop by itself).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use plba::contracts::{
    ApplicationModule, Registry, RegistryError, Task, TaskError, TaskHandler, TaskQueue,
    TaskTracer, WorkerSpec, async_trait,
};
use plba::queue_memory::{MemoryQueue, MemoryQueueOptions};
use plba::workers::{IntervalWorker, QueueWorkerPool, Routine};
use serde_like::Order;
use tracing::Instrument;

/// The demo's payload, encoded as JSON by hand to keep the example's dependencies small.
mod serde_like {
    pub(crate) struct Order {
        pub(crate) number: u64,
        pub(crate) sku: &'static str,
        pub(crate) quantity: u32,
    }

    impl Order {
        pub(crate) fn to_json(&self) -> String {
            format!(
                r#"{{"number":{},"sku":"{}","quantity":{}}}"#,
                self.number, self.sku, self.quantity
            )
        }
    }
}

struct Producer {
    queue: Arc<MemoryQueue>,
    tracer: Arc<dyn TaskTracer>,
    next: AtomicU64,
}

#[async_trait]
impl Routine for Producer {
    async fn tick(&self) -> Result<(), TaskError> {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let skus = ["A-100", "B-200", "C-300"];
        let order = Order {
            number,
            sku: skus[(number % 3) as usize],
            quantity: u32::try_from(number % 5 + 1).unwrap_or(1),
        };
        let mut task = Task::new("order.received", order.to_json());
        // The producer span's context travels in the task: the handler's logs join its trace.
        let span = self.tracer.publish_span(self.queue.name(), &mut task);
        self.queue
            .publish(task)
            .instrument(span)
            .await
            .map(drop)
            .map_err(|e| TaskError::transient("publishing failed").with_source(e))
    }
}

struct OrderHandler;

#[async_trait]
impl TaskHandler for OrderHandler {
    async fn handle(&self, task: &Task) -> Result<(), TaskError> {
        let body = std::str::from_utf8(&task.payload)
            .map_err(|e| TaskError::permanent("payload is not UTF-8").with_source(e))?;
        // Pretend to do some work, so the pool shows busy copies.
        tokio::time::sleep(Duration::from_millis(50)).await;
        tracing::info!(task_id = %task.id, attempt = task.attempt, order = body, "order handled");
        Ok(())
    }
}

struct Reporter {
    queue: Arc<MemoryQueue>,
}

#[async_trait]
impl Routine for Reporter {
    async fn tick(&self) -> Result<(), TaskError> {
        let stats = self
            .queue
            .stats()
            .await
            .map_err(|e| TaskError::transient("stats unavailable").with_source(e))?;
        tracing::info!(
            published = stats.published,
            acked = stats.acked,
            depth = stats.depth,
            in_flight = stats.in_flight,
            "queue stats"
        );
        Ok(())
    }
}

struct Demo;

#[async_trait]
impl ApplicationModule for Demo {
    fn name(&self) -> &str {
        "demo"
    }

    async fn register(&self, registry: &mut dyn Registry) -> Result<(), RegistryError> {
        let queue = Arc::new(
            MemoryQueue::new("orders", MemoryQueueOptions::default())
                .map_err(|e| RegistryError::module("demo", "the orders queue", e))?,
        );
        registry.add_queue(queue.clone())?;
        let producer = Producer {
            queue: queue.clone(),
            tracer: registry.tracer(),
            next: AtomicU64::new(1),
        };
        registry.add_worker(WorkerSpec::single(
            "producer",
            Arc::new(IntervalWorker::new(
                Arc::new(producer),
                Duration::from_millis(200),
            )),
        ))?;
        // Registers the pool's workers and its metrics (/metrics).
        QueueWorkerPool::new("order-handlers", queue.clone(), Arc::new(OrderHandler))
            .concurrency(3)
            .tracer(registry.tracer())
            .register(registry)?;
        registry.add_worker(
            WorkerSpec::single(
                "reporter",
                Arc::new(IntervalWorker::new(
                    Arc::new(Reporter { queue }),
                    Duration::from_secs(2),
                )),
            )
            .with_critical(false),
        )?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // Configuration errors are for the operator: no backtrace, the whole chain.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("demo: {error:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let seconds = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .map(|s| s.parse::<u64>())
        .transpose()?;
    // Configuration: `PLBA_CONFIG` names a YAML file (optional); `PLBA__SECTION__KEY`
    // variables override it, e.g. `PLBA__LOG__LEVEL=debug`.
    let mut source = plba::config::ConfigSource::new();
    if let Some(file) = std::env::var_os("PLBA_CONFIG") {
        source = source.with_file(file);
    }
    let application = plba::create_runtime(&Demo, plba::PlbaOptions::from_source(source)).await?;
    let runtime = application.runtime().clone();
    if let Some(seconds) = seconds {
        let runtime = runtime.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            runtime.request_shutdown();
        });
    }
    tracing::info!("demo running; press Ctrl-C to stop");
    let report = plba::run_runtime(&application).await?;
    let status = runtime.status().await;
    for queue in &status.queues {
        tracing::info!(queue = %queue.name, stats = ?queue.stats, "final queue stats");
    }
    tracing::info!(graceful = report.graceful, took = ?report.took, "demo stopped");
    Ok(())
}

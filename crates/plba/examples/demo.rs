//! A small PLBA application: a schedule publishes an order every 200 ms into a memory queue,
//! a pool of three workers handles them, and a reporter logs the queue's stats. Ctrl-C (or
//! SIGTERM) stops it gracefully; a second Ctrl-C forces the stop.
//!
//! `cargo run -p plba --example demo` (add `-- --seconds 5` to stop by itself).

use plba::contracts::TaskError;
use plba::prelude::*;

#[derive(serde::Deserialize)]
struct Order {
    number: u64,
    sku: String,
    quantity: u32,
}

/// Logs the queue's counters every two seconds.
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
        let queue = Arc::new(MemoryQueue::named("orders"));
        // The producer: each occurrence publishes the next order, in a span of its own that
        // the handler's logs join.
        let mut number = 0_u64;
        let producer = PublishJob::new(registry.publisher(queue.clone()), move |_| {
            number += 1;
            let sku = ["A-100", "B-200", "C-300"][(number % 3) as usize];
            let payload = format!(
                r#"{{"number":{number},"sku":"{sku}","quantity":{}}}"#,
                number % 5 + 1
            );
            Task::new("order.received", payload)
        });
        registry.add_schedule(Schedule::every(
            "producer",
            Duration::from_millis(200),
            Arc::new(producer),
        ))?;
        let handler = JsonHandler::new(|order: Order| async move {
            // Pretend to do some work, so the pool shows busy copies.
            tokio::time::sleep(Duration::from_millis(50)).await;
            tracing::info!(order = order.number, sku = %order.sku, quantity = order.quantity, "order handled");
            Ok(())
        });
        // Registers the queue, the pool's workers and its metrics (/metrics), traced.
        QueueWorkerPool::new("order-handlers", queue.clone(), Arc::new(handler))
            .concurrency(3)
            .register(registry)?;
        let reporter = IntervalWorker::new(Arc::new(Reporter { queue }), Duration::from_secs(2));
        registry
            .add_worker(WorkerSpec::single("reporter", Arc::new(reporter)).with_critical(false))?;
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
    let application = plba::create_runtime(&Demo, PlbaOptions::from_source(source)).await?;
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

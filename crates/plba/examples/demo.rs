//! A small PLBA application: a schedule publishes an order every 200 ms into a memory queue,
//! a pool of three workers handles them, and a reporter logs the queue's stats. Ctrl-C (or
//! SIGTERM) stops it gracefully; a second Ctrl-C forces the stop.
//!
//! `cargo run -p plba --example demo`; from another terminal,
//! `cargo run -p plba --example demo -- status` (or `shutdown`, `dead-letters list`, …).

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
    // The platform's command line: `run` (the default), `check-config`, `status`, `stop`,
    // `shutdown`, `dead-letters list`, … against a running demo.
    plba::launcher::Launcher::new("demo", env!("CARGO_PKG_VERSION"), Demo)
        .about("demo: a schedule, a memory queue and three workers")
        .config_file(
            "PLBA_CONFIG",
            "A YAML configuration file (PLBA__SECTION__KEY variables override it)",
        )
        .main_queue("orders")
        .main_without_commands()
        .await
}

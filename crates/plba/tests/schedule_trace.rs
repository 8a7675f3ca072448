//! What a scheduled job publishes is handled in the job's trace: the runtime runs each
//! occurrence in a `schedule` span, the registry's publisher carries its context into the
//! task, and the pool's handler span (traced with the registry's tracer by default) is its
//! child, as an OpenTelemetry collector receives them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use plba::config::ConfigSource;
use plba::prelude::*;
use plba_testkit::otlp::{OtlpReceiver, hex};

struct Greeter;

#[async_trait]
impl ApplicationModule for Greeter {
    fn name(&self) -> &str {
        "greeter"
    }

    async fn register(&self, registry: &mut dyn Registry) -> Result<(), RegistryError> {
        let queue = Arc::new(MemoryQueue::named("greetings"));
        let job = PublishJob::new(registry.publisher(queue.clone()), |_| {
            Task::new("greet", r#""visitor""#)
        });
        registry.add_schedule(Schedule::every(
            "greet",
            Duration::from_millis(50),
            Arc::new(job),
        ))?;
        let greet = JsonHandler::new(|_name: String| async { Ok(()) });
        QueueWorkerPool::new("greeters", queue, Arc::new(greet)).register(registry)?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_runs_in_the_trace_of_the_occurrence_that_published_its_task() {
    let receiver = OtlpReceiver::start().await;
    let options = plba::PlbaOptions {
        config: ConfigSource::new()
            .with_env_vars(Vec::<(String, String)>::new())
            .with_override("platform.control.enabled=false")
            .with_override("platform.tracing.exporter=otlp")
            .with_override(format!(
                "platform.tracing.otlp.endpoint={}",
                receiver.endpoint()
            ))
            .with_override("platform.tracing.otlp.scheduled_delay_ms=50")
            .with_override("log.level=warn"),
        install_telemetry: true,
    };
    let application = plba::create_runtime(&Greeter, options).await.unwrap();
    let runtime = application.runtime().clone();
    let running = tokio::spawn(async move { plba::run_runtime(&application).await });

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let linked = loop {
        let spans = receiver.spans();
        let found = spans
            .iter()
            .filter(|s| s.name == "greetings process")
            .find_map(|process| {
                spans
                    .iter()
                    .find(|s| s.name == "schedule" && s.span_id == process.parent_span_id)
                    .map(|schedule| (hex(&process.trace_id), hex(&schedule.trace_id)))
            });
        if let Some(found) = found {
            break found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no handler span with a schedule span as its parent: {:#?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(linked.0, linked.1, "one trace");
    runtime.request_shutdown();
    running.await.unwrap().unwrap();
}

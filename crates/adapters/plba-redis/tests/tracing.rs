//! A task's trace context survives the Redis hop: the handler's span is a child of the
//! producer's span, exported over OTLP.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::sync::Arc;
use std::time::Duration;

use plba_config::{LogConfig, PlatformConfig, TraceExporter};
use plba_contracts::{
    CancellationToken, Task, TaskError, TaskHandler, TaskQueue, Worker, WorkerContext, async_trait,
};
use plba_redis::{RedisQueue, RedisQueueOptions};
use plba_testkit::otlp::{OtlpReceiver, hex};
use plba_testkit::servers::RedisServer;
use plba_testkit::wait::eventually;
use plba_tracing::Telemetry;
use plba_workers::{QueueWorker, QueueWorkerMetrics, QueueWorkerOptions};
use tracing::Instrument;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

struct Logs;

#[async_trait]
impl TaskHandler for Logs {
    async fn handle(&self, _task: &Task) -> Result<(), TaskError> {
        tracing::info!("handled across redis");
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_handler_span_is_a_child_of_the_producer_span_across_redis() {
    let redis = RedisServer::start().expect("redis-server is needed");
    let receiver = OtlpReceiver::start().await;
    let mut platform = PlatformConfig::default();
    platform.tracing.exporter = TraceExporter::Otlp;
    platform.tracing.otlp.endpoint = receiver.endpoint();
    platform.tracing.otlp.scheduled_delay_ms = 50;
    let (traces, dispatch) = Telemetry::build_with_writer(
        &platform,
        &LogConfig::default(),
        BoxMakeWriter::new(std::io::sink),
    )
    .unwrap();
    let _default = tracing::dispatcher::set_default(&dispatch);
    let tracer = traces.task_tracer();

    let options = RedisQueueOptions {
        url: redis.url(),
        ..RedisQueueOptions::default()
    };
    let queue = Arc::new(RedisQueue::connect("traced", options).await.unwrap());
    let metrics = Arc::new(QueueWorkerMetrics::default());
    let worker = QueueWorker::new(
        queue.clone(),
        Arc::new(Logs),
        QueueWorkerOptions::default(),
        metrics.clone(),
    )
    .with_tracer(Arc::clone(&tracer));
    let stop = CancellationToken::new();
    let ctx = WorkerContext::new(0, stop.clone(), CancellationToken::new());
    tokio::spawn(async move { worker.run(ctx).await });

    let mut task = Task::new("job", "over redis");
    let publish = tracer.publish_span("traced", &mut task);
    queue.publish(task).instrument(publish).await.unwrap();
    eventually(Duration::from_secs(20), "handled", || {
        metrics.snapshot().processed == 1
    })
    .await;
    stop.cancel();
    let traces = Arc::new(traces);
    let flusher = Arc::clone(&traces);
    tokio::task::spawn_blocking(move || flusher.shutdown())
        .await
        .unwrap();
    eventually(Duration::from_secs(20), "spans exported", || {
        receiver.spans().len() >= 2
    })
    .await;

    let spans = receiver.spans();
    let producer = spans.iter().find(|s| s.name == "traced publish").unwrap();
    let consumer = spans.iter().find(|s| s.name == "traced process").unwrap();
    assert_eq!(hex(&consumer.trace_id), hex(&producer.trace_id));
    assert_eq!(hex(&consumer.parent_span_id), hex(&producer.span_id));
    assert!(
        consumer
            .events
            .iter()
            .any(|e| e.name == "handled across redis")
    );
}

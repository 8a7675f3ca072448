//! Trace propagation producer → queue → handler, exported over OTLP/HTTP to a real receiver;
//! a dead collector that cannot slow tasks down; log levels that follow config reloads.
//!
//! Each test runs on a current-thread runtime with its subscriber set as the thread's
//! default, so the tests in this file do not see each other's spans or logs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::sync::Arc;
use std::time::Duration;

use plba_config::{ConfigSource, ConfigurationManager, LogConfig, PlatformConfig, TraceExporter};
use plba_contracts::{
    CancellationToken, Task, TaskError, TaskHandler, TaskQueue, TaskTracer, Worker, WorkerContext,
    async_trait,
};
use plba_queue_memory::{MemoryQueue, MemoryQueueOptions};
use plba_testkit::handlers::CountingHandler;
use plba_testkit::logs::CapturedLogs;
use plba_testkit::otlp::{OtlpReceiver, attribute, blackhole, hex};
use plba_testkit::wait::{eventually, eventually_async, within};
use plba_tracing::Telemetry;
use plba_util::Unpoisoned;
use plba_workers::{QueueWorker, QueueWorkerMetrics, QueueWorkerOptions};
use tracing::Instrument;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

const DEADLINE: Duration = Duration::from_secs(20);

fn otlp_platform(endpoint: String) -> PlatformConfig {
    let mut platform = PlatformConfig::default();
    platform.tracing.exporter = TraceExporter::Otlp;
    platform.tracing.otlp.endpoint = endpoint;
    platform.tracing.otlp.scheduled_delay_ms = 50;
    platform
}

/// Telemetry for `platform` with logs discarded, and its dispatch (to set as the test's default).
fn quiet_telemetry(platform: &PlatformConfig) -> (Telemetry, tracing::Dispatch) {
    Telemetry::build_with_writer(
        platform,
        &LogConfig::default(),
        BoxMakeWriter::new(std::io::sink),
    )
    .unwrap()
}

/// Shuts `telemetry` down (flushing its exporter off the async threads) and keeps it readable.
async fn flushed(telemetry: Telemetry) -> Arc<Telemetry> {
    let flushing = Arc::new(telemetry);
    let flusher = Arc::clone(&flushing);
    tokio::task::spawn_blocking(move || flusher.shutdown())
        .await
        .unwrap();
    flushing
}

struct OrderHandler;

#[async_trait]
impl TaskHandler for OrderHandler {
    async fn handle(&self, task: &Task) -> Result<(), TaskError> {
        tracing::info!(order = %String::from_utf8_lossy(&task.payload), "order stored");
        Ok(())
    }
}

/// Runs one copy of a QueueWorker over `queue` with `tracer` until the returned token fires.
fn spawn_worker<H: TaskHandler>(
    queue: &Arc<MemoryQueue>,
    handler: Arc<H>,
    tracer: Arc<dyn TaskTracer>,
) -> (CancellationToken, Arc<QueueWorkerMetrics>) {
    let metrics = Arc::new(QueueWorkerMetrics::default());
    let worker = QueueWorker::new(
        Arc::clone(queue),
        handler,
        QueueWorkerOptions::default(),
        Arc::clone(&metrics),
    )
    .with_tracer(tracer);
    let stop = CancellationToken::new();
    let ctx = WorkerContext::new(0, stop.clone(), CancellationToken::new());
    tokio::spawn(async move { worker.run(ctx).await });
    (stop, metrics)
}

/// Publishes one task to an in-process queue under a span "scan" and returns the exported
/// spans once its handler ran.
async fn exported_in_process(in_process_producer_spans: bool) -> Vec<plba_testkit::otlp::Span> {
    let receiver = OtlpReceiver::start().await;
    let mut platform = otlp_platform(receiver.endpoint());
    platform.tracing.in_process_producer_spans = in_process_producer_spans;
    let (telemetry, dispatch) = quiet_telemetry(&platform);
    let _default = tracing::dispatcher::set_default(&dispatch);
    let tracer = telemetry.task_tracer();
    let queue = Arc::new(MemoryQueue::new("orders", MemoryQueueOptions::default()).unwrap());
    let (stop, metrics) = spawn_worker(&queue, Arc::new(OrderHandler), Arc::clone(&tracer));
    let mut task = Task::new("order.received", "42");
    let scan = tracing::info_span!("scan");
    let publish = scan.in_scope(|| tracer.publish_span_to(&*queue, &mut task));
    queue.publish(task).instrument(publish).await.unwrap();
    drop(scan);
    eventually(DEADLINE, "task processed", || {
        metrics.snapshot().processed == 1
    })
    .await;
    stop.cancel();
    let _flushed = flushed(telemetry).await;
    eventually(DEADLINE, "the handler's span exported", || {
        receiver.spans().iter().any(|s| s.name == "orders process")
            && receiver.spans().iter().any(|s| s.name == "scan")
    })
    .await;
    receiver.spans()
}

#[tokio::test(flavor = "current_thread")]
async fn an_in_process_queue_makes_no_producer_span_unless_asked() {
    let spans = exported_in_process(false).await;
    let find = |name: &str| spans.iter().find(|s| s.name == name).cloned();
    let scan = find("scan").unwrap();
    let consumer = find("orders process").unwrap();
    assert!(
        find("orders publish").is_none(),
        "no producer span: {spans:#?}"
    );
    assert_eq!(hex(&consumer.trace_id), hex(&scan.trace_id), "one trace");
    assert_eq!(
        hex(&consumer.parent_span_id),
        hex(&scan.span_id),
        "the handler span is the publisher's child"
    );

    let spans = exported_in_process(true).await;
    let producer = spans
        .iter()
        .find(|s| s.name == "orders publish")
        .unwrap_or_else(|| panic!("asked for, the producer span is made: {spans:#?}"));
    let consumer = spans.iter().find(|s| s.name == "orders process").unwrap();
    assert_eq!(hex(&consumer.parent_span_id), hex(&producer.span_id));
}

#[tokio::test(flavor = "current_thread")]
async fn the_handler_span_is_a_child_of_the_producer_span_in_the_exported_trace() {
    let receiver = OtlpReceiver::start().await;
    let (telemetry, dispatch) = quiet_telemetry(&otlp_platform(receiver.endpoint()));
    let _default = tracing::dispatcher::set_default(&dispatch);
    let tracer = telemetry.task_tracer();
    let queue = Arc::new(MemoryQueue::new("orders", MemoryQueueOptions::default()).unwrap());
    let (stop, metrics) = spawn_worker(&queue, Arc::new(OrderHandler), Arc::clone(&tracer));

    let mut task = Task::new("order.received", "42");
    let task_id = task.id.to_string();
    let request = tracing::info_span!("incoming mail");
    let publish = request.in_scope(|| tracer.publish_span("orders", &mut task));
    assert!(
        task.metadata
            .get("traceparent")
            .is_some_and(|tp| tp.starts_with("00-")),
        "the task carries a W3C traceparent: {:?}",
        task.metadata
    );
    queue.publish(task).instrument(publish).await.unwrap();
    drop(request);
    eventually(DEADLINE, "task processed", || {
        metrics.snapshot().processed == 1
    })
    .await;
    stop.cancel();

    let flushing = flushed(telemetry).await;
    eventually(DEADLINE, "both spans exported", || {
        receiver.spans().len() >= 3
    })
    .await;

    let spans = receiver.spans();
    let find = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name:?} in {spans:#?}"))
            .clone()
    };
    let root = find("incoming mail");
    let producer = find("orders publish");
    let consumer = find("orders process");
    assert_eq!(
        hex(&producer.trace_id),
        hex(&root.trace_id),
        "the producer continues the caller's trace"
    );
    assert_eq!(
        hex(&consumer.trace_id),
        hex(&producer.trace_id),
        "one trace across the queue"
    );
    assert_eq!(hex(&producer.parent_span_id), hex(&root.span_id));
    assert_eq!(
        hex(&consumer.parent_span_id),
        hex(&producer.span_id),
        "the handler span is the producer span's child"
    );
    assert!(
        consumer.events.iter().any(|e| e.name == "order stored"),
        "the handler's event is recorded in its span: {:?}",
        consumer.events
    );
    // OpenTelemetry span kinds: 4 = producer, 5 = consumer.
    assert_eq!((producer.kind, consumer.kind), (4, 5));
    for (span, operation) in [(&producer, "send"), (&consumer, "process")] {
        assert_eq!(attribute(span, "messaging.system").as_deref(), Some("plba"));
        assert_eq!(
            attribute(span, "messaging.destination.name").as_deref(),
            Some("orders")
        );
        assert_eq!(
            attribute(span, "messaging.operation.type").as_deref(),
            Some(operation)
        );
        assert_eq!(
            attribute(span, "messaging.message.id").as_deref(),
            Some(task_id.as_str())
        );
    }

    // The in-memory record tells the same story.
    let trace = flushing.recent_traces().get(&task_id).unwrap();
    assert_eq!(
        trace.trace_id.as_deref(),
        Some(hex(&consumer.trace_id).as_str())
    );
    let steps: Vec<&str> = trace.steps.iter().map(|s| s.step).collect();
    assert_eq!(steps, ["published", "received", "succeeded"]);
    assert_eq!(trace.outcome, Some("succeeded"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_collector_that_never_answers_neither_slows_nor_loses_tasks() {
    const TASKS: usize = 2_000;
    let (addr, _blackhole) = blackhole().await;
    let mut platform = otlp_platform(format!("http://{addr}/v1/traces"));
    // If exporting blocked task processing, each stuck export would cost a minute.
    platform.tracing.otlp.timeout_ms = 60_000;
    platform.tracing.otlp.max_queue_size = 256;
    let (telemetry, dispatch) = quiet_telemetry(&platform);
    let _default = tracing::dispatcher::set_default(&dispatch);
    let tracer = telemetry.task_tracer();
    let queue = Arc::new(MemoryQueue::new("orders", MemoryQueueOptions::default()).unwrap());
    let handler = Arc::new(CountingHandler::new());
    let (stop, metrics) = spawn_worker(&queue, Arc::clone(&handler), Arc::clone(&tracer));

    let producer = {
        let queue = Arc::clone(&queue);
        async move {
            for i in 0..TASKS {
                let mut task = Task::new("order.received", i.to_string());
                let span = tracer.publish_span("orders", &mut task);
                queue.publish(task).instrument(span).await.unwrap();
            }
        }
    };
    within(DEADLINE, "publishing with a dead collector", producer).await;
    eventually_async(
        DEADLINE,
        "every task processed despite the dead collector",
        || async { queue.stats().await.unwrap().acked == TASKS as u64 },
    )
    .await;
    stop.cancel();
    assert_eq!(handler.distinct(), TASKS, "no task lost");
    assert_eq!(metrics.snapshot().failed, 0);
    // Dropping the telemetry without a shutdown: the exporter thread must not hold the test.
    drop(telemetry);
}

#[tokio::test(flavor = "current_thread")]
async fn log_levels_follow_a_config_reload() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plba.yaml");
    std::fs::write(&file, "log:\n  level: warn\n").unwrap();
    let manager =
        Arc::new(ConfigurationManager::load(ConfigSource::new().with_file(&file)).unwrap());
    let logs = CapturedLogs::new();
    let current = manager.current();
    let (telemetry, dispatch) = Telemetry::build_with_writer(
        current.platform(),
        current.log(),
        BoxMakeWriter::new(logs.clone()),
    )
    .unwrap();
    let _default = tracing::dispatcher::set_default(&dispatch);
    let telemetry = Arc::new(telemetry);
    let cancel = CancellationToken::new();
    let following = telemetry.follow_config(manager.subscribe(), cancel.clone());

    tracing::info!("quiet-before-reload");
    tracing::warn!("loud-before-reload");
    std::fs::write(&file, "log:\n  level: info\n").unwrap();
    manager.reload_async().await.unwrap();
    eventually(DEADLINE, "filter applied", || {
        logs.text().contains("log filter changed")
    })
    .await;
    tracing::info!("quiet-after-reload");

    let text = logs.text();
    assert!(!text.contains("quiet-before-reload"), "{text}");
    assert!(text.contains("loud-before-reload"), "{text}");
    assert!(
        text.contains("quiet-after-reload"),
        "info shows after the reload: {text}"
    );

    // An invalid reload changes nothing.
    std::fs::write(&file, "log:\n  level: [\n").unwrap();
    assert!(manager.reload_async().await.is_err());
    tracing::debug!("debug-still-hidden");
    assert!(!logs.text().contains("debug-still-hidden"));
    cancel.cancel();
    following.await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_task_nobody_will_see_makes_no_span_but_keeps_its_trace_id() {
    let receiver = OtlpReceiver::start().await;
    let (telemetry, dispatch) = quiet_telemetry(&otlp_platform(receiver.endpoint()));
    let _default = tracing::dispatcher::set_default(&dispatch);
    let tracer = telemetry.task_tracer();
    let queue = Arc::new(MemoryQueue::new("orders", MemoryQueueOptions::default()).unwrap());
    let (stop, metrics) = spawn_worker(&queue, Arc::new(OrderHandler), Arc::clone(&tracer));

    // A producer elsewhere decided not to sample this trace: the flag travels with the task.
    let unsampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    let mut task = Task::new("order.received", "7");
    task.metadata.insert("traceparent", unsampled);
    let task_id = task.id.to_string();
    queue.publish(task).await.unwrap();
    // And a sampled one after it, so the export below proves the exporter works.
    let mut sampled = Task::new("order.received", "8");
    let publish = tracer.publish_span("orders", &mut sampled);
    queue.publish(sampled).instrument(publish).await.unwrap();
    eventually(DEADLINE, "both tasks processed", || {
        metrics.snapshot().processed == 2
    })
    .await;
    stop.cancel();
    let flushing = flushed(telemetry).await;
    eventually(DEADLINE, "the sampled task's spans exported", || {
        receiver.spans().len() >= 2
    })
    .await;
    let unsampled_trace = "0af7651916cd43dd8448eb211c80319c";
    assert!(
        receiver
            .spans()
            .iter()
            .all(|span| hex(&span.trace_id) != unsampled_trace),
        "no span of the unsampled trace is exported: {:#?}",
        receiver.spans()
    );
    assert!(
        receiver.spans().iter().all(|span| span.name != "task"),
        "the span carrying an unsampled trace through its handler is never exported"
    );
    let trace = flushing.recent_traces().get(&task_id).unwrap();
    assert_eq!(trace.trace_id.as_deref(), Some(unsampled_trace));
    assert_eq!(trace.outcome, Some("succeeded"));

    // Without an exporter no span is made at all, yet the task carries a trace id to the
    // next hop and the record.
    let (telemetry, dispatch) = quiet_telemetry(&PlatformConfig::default());
    let _default = tracing::dispatcher::set_default(&dispatch);
    let tracer = telemetry.task_tracer();
    let mut task = Task::new("order.received", "9");
    let span = tracer.publish_span("orders", &mut task);
    assert!(span.is_none(), "no span without an exporter");
    let traceparent = task.metadata.get("traceparent").unwrap().to_owned();
    assert!(
        traceparent.ends_with("-01"),
        "sampled at the default ratio: {traceparent}"
    );
    // The handler's own publishes continue the trace with the same decision.
    let mut follow_up = Task::new("invoice.requested", "9");
    tracer
        .process_span("orders", &task)
        .in_scope(|| drop(tracer.publish_span("invoices", &mut follow_up)));
    let next = follow_up.metadata.get("traceparent").unwrap();
    assert_eq!(
        &next[3..35],
        &traceparent[3..35],
        "one trace across the hop"
    );
    assert!(next.ends_with("-01"), "{next}");
    let trace = telemetry.recent_traces().get(&task.id.to_string()).unwrap();
    assert_eq!(trace.trace_id.as_deref(), Some(&traceparent[3..35]));
    let steps: Vec<&str> = trace.steps.iter().map(|s| s.step).collect();
    assert_eq!(steps, ["published", "received"]);
}

#[tokio::test(flavor = "current_thread")]
async fn an_unsampled_trace_stays_unsampled_through_a_handler_that_publishes() {
    let receiver = OtlpReceiver::start().await;
    let (telemetry, dispatch) = quiet_telemetry(&otlp_platform(receiver.endpoint()));
    let _default = tracing::dispatcher::set_default(&dispatch);
    let tracer = telemetry.task_tracer();
    let mut task = Task::new("order.received", "1");
    task.metadata.insert(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
    );
    let mut follow_up = Task::new("invoice.requested", "1");
    tracer
        .process_span("orders", &task)
        .in_scope(|| drop(tracer.publish_span("invoices", &mut follow_up)));
    let next = follow_up.metadata.get("traceparent").unwrap();
    assert!(
        next.starts_with("00-0af7651916cd43dd8448eb211c80319c-") && next.ends_with("-00"),
        "the follow-up continues the unsampled trace: {next}"
    );
    // A task outside any trace, published after, is sampled (ratio 1) and exported: the
    // exporter works, and still nothing of the unsampled trace reaches it.
    let mut other = Task::new("order.received", "2");
    drop(tracer.publish_span("orders", &mut other));
    flushed(telemetry).await;
    eventually(DEADLINE, "the sampled span exported", || {
        !receiver.spans().is_empty()
    })
    .await;
    assert!(
        receiver.spans().iter().all(|span| hex(&span.trace_id)
            != "0af7651916cd43dd8448eb211c80319c"
            && span.name != "task"),
        "{:#?}",
        receiver.spans()
    );
}

/// Publishes a follow-up task for each task it handles, through the tracer, and keeps the
/// follow-ups' `traceparent`s.
struct FollowUp {
    tracer: Arc<dyn TaskTracer>,
    /// Where follow-ups go when in this process (`publish_span_to`); else another's.
    in_process: Option<Arc<MemoryQueue>>,
    published: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl TaskHandler for FollowUp {
    async fn handle(&self, task: &Task) -> Result<(), TaskError> {
        let mut follow_up = Task::new("invoice.requested", task.payload.clone());
        drop(match &self.in_process {
            Some(queue) => self.tracer.publish_span_to(&**queue, &mut follow_up),
            None => self.tracer.publish_span("invoices", &mut follow_up),
        });
        let traceparent = follow_up.metadata.get("traceparent").unwrap().to_owned();
        self.published.lock_or_recover().push(traceparent);
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn what_a_handler_publishes_continues_its_task_trace_without_an_exporter() {
    // Without an exporter the worker makes no span: the trace reaches the handler's
    // publishes through the worker alone, sampled or not.
    let (telemetry, dispatch) = quiet_telemetry(&PlatformConfig::default());
    let _default = tracing::dispatcher::set_default(&dispatch);
    let tracer = telemetry.task_tracer();
    let queue = Arc::new(MemoryQueue::new("orders", MemoryQueueOptions::default()).unwrap());
    let handler = Arc::new(FollowUp {
        tracer: Arc::clone(&tracer),
        in_process: None,
        published: std::sync::Mutex::default(),
    });
    let (stop, metrics) = spawn_worker(&queue, Arc::clone(&handler), Arc::clone(&tracer));
    let incoming = [
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-1bf7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
    ];
    for traceparent in incoming {
        let task = Task::new("order.received", "7").with_metadata("traceparent", traceparent);
        queue.publish(task).await.unwrap();
    }
    eventually(DEADLINE, "both tasks handled", || {
        metrics.snapshot().processed == 2
    })
    .await;
    stop.cancel();
    let published = handler.published.lock_or_recover().clone();
    assert_eq!(published.len(), 2);
    for (sent, follow_up) in incoming.iter().zip(&published) {
        assert_eq!(&follow_up[3..35], &sent[3..35], "one trace: {follow_up}");
        assert_eq!(&follow_up[52..], &sent[52..], "same decision: {follow_up}");
        assert_ne!(&follow_up[36..52], &sent[36..52], "a span id of its own");
    }
    // Outside a handler nothing is current any more: a new task starts its own trace.
    let mut other = Task::new("order.received", "8");
    drop(tracer.publish_span("orders", &mut other));
    let other = other.metadata.get("traceparent").unwrap();
    assert!(incoming.iter().all(|sent| other[3..35] != sent[3..35]));
}

#[tokio::test(flavor = "current_thread")]
async fn new_traces_are_exported_at_the_sample_ratio_and_the_rest_make_no_span() {
    let receiver = OtlpReceiver::start().await;
    let mut platform = otlp_platform(receiver.endpoint());
    platform.tracing.sample_ratio = 0.5;
    platform.tracing.otlp.max_queue_size = 4_096;
    let (telemetry, dispatch) = quiet_telemetry(&platform);
    let _default = tracing::dispatcher::set_default(&dispatch);
    let tracer = telemetry.task_tracer();
    let tasks = 1_000;
    let mut sampled = 0;
    for n in 0..tasks {
        let mut task = Task::new("order.received", n.to_string());
        let span = tracer.publish_span("orders", &mut task);
        let traceparent = task.metadata.get("traceparent").unwrap();
        if traceparent.ends_with("-01") {
            sampled += 1;
            assert!(!span.is_none(), "a sampled trace has its span");
        } else {
            assert!(span.is_none(), "an unsampled trace makes no span");
        }
    }
    let _flushed = flushed(telemetry).await;
    eventually(DEADLINE, "the sampled spans exported", || {
        receiver.spans().len() == sampled
    })
    .await;
    // Drawn once, not once by the tracer and again by the exporter's sampler (which would
    // keep about a quarter).
    assert!(
        (400..600).contains(&sampled),
        "{sampled} of {tasks} sampled at 0.5"
    );
    assert!(
        receiver
            .spans()
            .iter()
            .all(|span| span.name == "orders publish"),
        "{:#?}",
        receiver.spans()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_unsampled_trace_stays_one_through_an_in_process_hop_while_exporting() {
    let receiver = OtlpReceiver::start().await;
    let (telemetry, dispatch) = quiet_telemetry(&otlp_platform(receiver.endpoint()));
    let _default = tracing::dispatcher::set_default(&dispatch);
    let tracer = telemetry.task_tracer();
    let queue = Arc::new(MemoryQueue::new("orders", MemoryQueueOptions::default()).unwrap());
    let invoices = Arc::new(MemoryQueue::new("invoices", MemoryQueueOptions::default()).unwrap());
    let handler = Arc::new(FollowUp {
        tracer: Arc::clone(&tracer),
        in_process: Some(invoices),
        published: std::sync::Mutex::default(),
    });
    let (stop, metrics) = spawn_worker(&queue, Arc::clone(&handler), Arc::clone(&tracer));
    let sent = "00-2cf7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    let task = Task::new("order.received", "9").with_metadata("traceparent", sent);
    queue.publish(task).await.unwrap();
    eventually(DEADLINE, "the task handled", || {
        metrics.snapshot().processed == 1
    })
    .await;
    stop.cancel();
    let published = handler.published.lock_or_recover().clone();
    let follow_up = published.first().expect("one follow-up");
    assert_eq!(&follow_up[3..35], &sent[3..35], "one trace: {follow_up}");
    assert!(follow_up.ends_with("-00"), "still unsampled: {follow_up}");
}

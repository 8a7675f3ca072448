//! The OpenTelemetry-backed `TaskTracer`.

use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use plba_contracts::{Task, TaskOutcome, TaskTracer};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::propagation::{MetadataExtractor, MetadataInjector};
use crate::recent::{RecentTraces, TraceStep};

/// The `tracing` target of task spans; the trace filter always lets it through, whatever the
/// log level, so trace context propagates even when logs are quiet.
pub(crate) const TASK_TARGET: &str = "plba::task";

/// Creates producer and consumer spans following the OpenTelemetry messaging conventions
/// (`messaging.system`, `messaging.destination.name`, `messaging.operation.type`,
/// `messaging.message.id`) and carries their context in W3C `traceparent`/`tracestate`
/// metadata entries.
#[derive(Debug)]
pub struct OtelTaskTracer {
    propagator: TraceContextPropagator,
    recent: Arc<RecentTraces>,
}

impl OtelTaskTracer {
    /// A tracer recording task steps into `recent`.
    pub fn new(recent: Arc<RecentTraces>) -> Self {
        Self {
            propagator: TraceContextPropagator::new(),
            recent,
        }
    }

    fn trace_id(span: &tracing::Span) -> Option<String> {
        let context = span.context();
        let span_context = context.span().span_context().clone();
        span_context
            .is_valid()
            .then(|| span_context.trace_id().to_string())
    }

    fn step(
        &self,
        destination: &str,
        task: &Task,
        trace_id: Option<String>,
        step: &'static str,
        detail: Option<&str>,
    ) {
        self.recent.record(
            task.id,
            &task.name,
            destination,
            trace_id,
            TraceStep {
                at: SystemTime::now(),
                step,
                attempt: task.attempt,
                detail: detail.map(str::to_owned),
            },
        );
    }
}

impl TaskTracer for OtelTaskTracer {
    fn publish_span(&self, destination: &str, task: &mut Task) -> tracing::Span {
        let span = tracing::info_span!(
            target: TASK_TARGET,
            "publish",
            otel.name = %format_args!("{destination} publish"),
            otel.kind = "producer",
            messaging.system = "plba",
            messaging.destination.name = destination,
            messaging.operation.type = "send",
            messaging.operation.name = "publish",
            messaging.message.id = %task.id,
            plba.task.name = %task.name,
        );
        use opentelemetry::propagation::TextMapPropagator as _;
        self.propagator
            .inject_context(&span.context(), &mut MetadataInjector(&mut task.metadata));
        self.step(destination, task, Self::trace_id(&span), "published", None);
        span
    }

    fn process_span(&self, destination: &str, task: &Task) -> tracing::Span {
        use opentelemetry::propagation::TextMapPropagator as _;
        let parent = self.propagator.extract(&MetadataExtractor(&task.metadata));
        let span = tracing::info_span!(
            target: TASK_TARGET,
            "process",
            otel.name = %format_args!("{destination} process"),
            otel.kind = "consumer",
            messaging.system = "plba",
            messaging.destination.name = destination,
            messaging.operation.type = "process",
            messaging.operation.name = "process",
            messaging.message.id = %task.id,
            plba.task.name = %task.name,
            plba.task.attempt = task.attempt,
        );
        // A disabled span has nothing to attach the parent to; tracing goes on without it.
        let _ = span.set_parent(parent);
        self.step(destination, task, Self::trace_id(&span), "received", None);
        span
    }

    fn record_outcome(&self, destination: &str, task: &Task, outcome: TaskOutcome<'_>) {
        self.step(destination, task, None, outcome.as_str(), outcome.reason());
    }
}

//! The OpenTelemetry-backed `TaskTracer`.

use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use plba_contracts::{IncomingTrace, Task, TaskOutcome, TaskTracer};
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
///
/// A task pays for OpenTelemetry only when someone will see its spans: without an exporter,
/// or for a task whose incoming `traceparent` says "not sampled", no span is made. The task
/// still carries a `traceparent` (a fresh trace id, sampled by `sample_ratio`, or the one it
/// came with), so the recent-traces record and the next hop keep the trace id and the
/// sampling decision.
#[derive(Debug)]
pub struct OtelTaskTracer {
    propagator: TraceContextPropagator,
    recent: Arc<RecentTraces>,
    exporting: bool,
    sample_ratio: f64,
    in_process_producer_spans: bool,
}

/// How a received task is traced.
enum Received {
    /// It makes no span; the trace it came with, if any.
    Spanless(Option<IncomingTrace>),
    /// Its consumer span.
    Spanned(tracing::Span),
}

/// The W3C `traceparent` metadata key.
const TRACEPARENT: &str = "traceparent";

impl OtelTaskTracer {
    /// A tracer recording task steps into `recent`, making spans for every task (as with an
    /// exporter and a sample ratio of 1).
    pub fn new(recent: Arc<RecentTraces>) -> Self {
        Self::with_sampling(recent, true, 1.0)
    }

    /// A tracer that makes spans only when `exporting`, and starts new traces sampled with
    /// probability `sample_ratio` when it does not (the flag travels in `traceparent`).
    pub fn with_sampling(recent: Arc<RecentTraces>, exporting: bool, sample_ratio: f64) -> Self {
        Self {
            propagator: TraceContextPropagator::new(),
            recent,
            exporting,
            sample_ratio: sample_ratio.clamp(0.0, 1.0),
            in_process_producer_spans: false,
        }
    }

    /// Same tracer, making producer spans for in-process destinations too when `enabled`.
    #[must_use]
    pub fn with_in_process_producer_spans(mut self, enabled: bool) -> Self {
        self.in_process_producer_spans = enabled;
        self
    }

    fn trace_id(span: &tracing::Span) -> Option<u128> {
        let context = span.context();
        let span_context = context.span().span_context().clone();
        span_context
            .is_valid()
            .then(|| u128::from_be_bytes(span_context.trace_id().to_bytes()))
    }

    /// Records that `task` was received from `destination`, and makes its consumer span
    /// when someone will see it.
    fn receive(&self, destination: &str, task: &Task) -> Received {
        use opentelemetry::propagation::TextMapPropagator as _;
        let incoming = task
            .metadata
            .get(TRACEPARENT)
            .and_then(crate::ids::parse_traceparent);
        if !self.exporting || incoming.is_some_and(|(_, sampled)| !sampled) {
            let trace_id = incoming.map(|(trace_id, _)| trace_id);
            self.step(destination, task, trace_id, "received", None);
            return Received::Spanless(
                incoming.map(|(trace_id, sampled)| IncomingTrace { trace_id, sampled }),
            );
        }
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
        Received::Spanned(span)
    }

    fn step(
        &self,
        destination: &str,
        task: &Task,
        trace_id: Option<u128>,
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
        // Published from a handler whose task made no span: continue its trace and keep
        // its sampling decision. Otherwise, without an exporter, start a trace here. The
        // current span is looked up once, and not at all when a handler's trace is current.
        let mut current = None;
        let incoming = IncomingTrace::current().or_else(|| {
            let span = current.insert(tracing::Span::current());
            if span.is_none() {
                return None;
            }
            crate::task_context::current().map(|trace| IncomingTrace {
                trace_id: trace.trace_id,
                sampled: trace.sampled,
            })
        });
        // A new trace with no span around it, to export: draw its sampling here, so a
        // trace the exporter would drop makes no span at all (the exporter's sampler takes
        // the root producer spans this lets through as drawn: `sampler::TaskRoots`).
        let outside_any_trace = || {
            current
                .as_ref()
                .is_none_or(|span| span.is_none() || Self::trace_id(span).is_none())
        };
        let fresh = (self.exporting && incoming.is_none() && outside_any_trace()).then(|| {
            let trace_id = crate::ids::random_trace_id();
            (trace_id, crate::ids::sampled(trace_id, self.sample_ratio))
        });
        let spanless = !self.exporting
            || incoming.is_some_and(|trace| !trace.sampled)
            || fresh.is_some_and(|(_, sampled)| !sampled);
        if spanless {
            let (trace_id, sampled) = match (incoming, fresh) {
                (Some(trace), _) => (trace.trace_id, trace.sampled),
                (None, Some(fresh)) => fresh,
                (None, None) => {
                    let trace_id = crate::ids::random_trace_id();
                    (trace_id, crate::ids::sampled(trace_id, self.sample_ratio))
                }
            };
            let value = crate::ids::traceparent(trace_id, crate::ids::random_span_id(), sampled);
            task.metadata.insert(TRACEPARENT, value);
            self.step(destination, task, Some(trace_id), "published", None);
            return tracing::Span::none();
        }
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

    /// Without a producer span (unless asked for): the current span's context goes into the
    /// task, so the handler's span is its child; with no current span the handler's span
    /// starts the trace.
    fn publish_in_process_span(&self, destination: &str, task: &mut Task) -> tracing::Span {
        // From a handler that made no span, the trace it came with decides (continued,
        // its sampling kept), as for any destination.
        if self.in_process_producer_spans || !self.exporting || IncomingTrace::current().is_some() {
            return self.publish_span(destination, task);
        }
        let current = tracing::Span::current();
        let trace_id = Self::trace_id(&current);
        if trace_id.is_some() {
            use opentelemetry::propagation::TextMapPropagator as _;
            self.propagator.inject_context(
                &current.context(),
                &mut MetadataInjector(&mut task.metadata),
            );
        }
        self.step(destination, task, trace_id, "published", None);
        tracing::Span::none()
    }

    fn process_span(&self, destination: &str, task: &Task) -> tracing::Span {
        match self.receive(destination, task) {
            // No span to export; the handler still runs inside the trace it came with, so
            // what it publishes continues that trace.
            Received::Spanless(Some(incoming)) => {
                crate::task_context::context_span(crate::task_context::Incoming {
                    trace_id: incoming.trace_id,
                    sampled: incoming.sampled,
                })
            }
            Received::Spanless(None) => tracing::Span::none(),
            Received::Spanned(span) => span,
        }
    }

    /// Without a span to make (no exporter, or an unsampled trace): no span, and the
    /// incoming trace for the consumer to make current around the handler.
    fn process_scope(
        &self,
        destination: &str,
        task: &Task,
    ) -> (tracing::Span, Option<IncomingTrace>) {
        match self.receive(destination, task) {
            Received::Spanless(incoming) => (tracing::Span::none(), incoming),
            Received::Spanned(span) => (span, None),
        }
    }

    fn record_outcome(&self, destination: &str, task: &Task, outcome: TaskOutcome<'_>) {
        self.step(destination, task, None, outcome.as_str(), outcome.reason());
    }
}

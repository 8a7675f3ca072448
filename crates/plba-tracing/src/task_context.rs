//! The trace a task arrived with, kept where a handler's publishes can find it when the task
//! made no span: without it, a task published from such a handler would start a new trace
//! and draw a new sampling decision, splitting one trace in two at every hop that does not
//! export.

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Span, Subscriber};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The `tracing` target of the context span; only [`TaskContextLayer`] enables it. Not under
/// `plba::task`: filters match targets by prefix, and the span layer lets `plba::task…`
/// through at every level, which would turn each context span into an exported span.
pub(crate) const CONTEXT_TARGET: &str = "trace_context::task";

/// A task's incoming trace: its id and whether it is sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Incoming {
    pub(crate) trace_id: u128,
    pub(crate) sampled: bool,
}

/// A span that makes nothing but carries `incoming` for [`current`]: a handler runs inside
/// it when its task made no OpenTelemetry span.
pub(crate) fn context_span(incoming: Incoming) -> Span {
    tracing::trace_span!(
        target: CONTEXT_TARGET,
        "task",
        trace_id = incoming.trace_id,
        sampled = incoming.sampled
    )
}

/// The incoming trace of the task whose handler is running here, if it made no span.
pub(crate) fn current() -> Option<Incoming> {
    Span::current()
        .with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<Registry>()?;
            let span = registry.span(id)?;
            span.scope()
                .find_map(|span| span.extensions().get::<Incoming>().copied())
        })
        .flatten()
}

/// Keeps the trace of each context span in its extensions.
#[derive(Debug, Default)]
pub(crate) struct TaskContextLayer;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for TaskContextLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut found = Found::default();
        attrs.record(&mut found);
        if let (Some(trace_id), Some(span)) = (found.trace_id, ctx.span(id)) {
            span.extensions_mut().insert(Incoming {
                trace_id,
                sampled: found.sampled,
            });
        }
    }
}

#[derive(Default)]
struct Found {
    trace_id: Option<u128>,
    sampled: bool,
}

impl Visit for Found {
    fn record_u128(&mut self, field: &Field, value: u128) {
        if field.name() == "trace_id" {
            self.trace_id = Some(value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "sampled" {
            self.sampled = value;
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

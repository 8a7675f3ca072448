//! Task tracing: how a task's trace context travels from producer to handler.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::task::Task;

/// The trace a task arrived with (its W3C trace id and sampled flag), for a handler whose
/// tracer made no span to carry it: what the handler publishes continues this trace and
/// keeps its sampling decision, instead of starting a new one at every hop.
///
/// A consumer runs the handler inside [`InTaskTrace`]; a tracer reads it back with
/// [`current`](Self::current). A thread-local set around each poll costs nothing like a
/// span per task would (a span is a registry entry, layer callbacks and a lookup). Like a
/// span, it stays with the handler's own future: a task the handler `tokio::spawn`s runs
/// without it unless wrapped in `InTaskTrace` with [`current`](Self::current).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IncomingTrace {
    /// The W3C trace id.
    pub trace_id: u128,
    /// Whether the trace is sampled.
    pub sampled: bool,
}

thread_local! {
    static CURRENT_TRACE: Cell<Option<IncomingTrace>> = const { Cell::new(None) };
}

/// Puts the previous current trace back, also when the scope unwinds.
struct RestoreTrace(Option<IncomingTrace>);

impl Drop for RestoreTrace {
    fn drop(&mut self) {
        CURRENT_TRACE.with(|current| current.set(self.0));
    }
}

impl IncomingTrace {
    /// The trace of the task whose handler runs on this thread now, if its tracer made no
    /// span for it.
    pub fn current() -> Option<Self> {
        CURRENT_TRACE.with(Cell::get)
    }

    /// Runs `f` with `incoming` as the current trace (none: no task's trace).
    pub fn in_scope<R>(incoming: Option<Self>, f: impl FnOnce() -> R) -> R {
        let _restore = RestoreTrace(CURRENT_TRACE.with(|current| current.replace(incoming)));
        f()
    }
}

/// A handler's future, run with its task's [`IncomingTrace`] as the current one during
/// each poll.
#[derive(Debug)]
pub struct InTaskTrace<F> {
    inner: F,
    incoming: Option<IncomingTrace>,
}

impl<F> InTaskTrace<F> {
    /// `inner`, polled with `incoming` current.
    pub fn new(inner: F, incoming: Option<IncomingTrace>) -> Self {
        Self { inner, incoming }
    }
}

impl<F: Future + Unpin> Future for InTaskTrace<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let incoming = self.incoming;
        IncomingTrace::in_scope(incoming, || Pin::new(&mut self.inner).poll(cx))
    }
}

/// What happened to one delivery, for the trace record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskOutcome<'a> {
    /// The handler succeeded; the delivery was acked.
    Succeeded,
    /// The handler failed transiently (or panicked); the task will be retried.
    Retrying {
        /// The failure.
        reason: &'a str,
    },
    /// The task will not be retried.
    DeadLettered {
        /// Why.
        reason: &'a str,
    },
    /// The consumer stopped and gave the task back untried.
    Released,
}

impl TaskOutcome<'_> {
    /// A short name: `succeeded`, `retrying`, `dead_lettered`, `released`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Retrying { .. } => "retrying",
            Self::DeadLettered { .. } => "dead_lettered",
            Self::Released => "released",
        }
    }

    /// The reason, for failures.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Retrying { reason } | Self::DeadLettered { reason } => Some(reason),
            Self::Succeeded | Self::Released => None,
        }
    }
}

/// Creates the spans of a task's life and carries their context in the task's metadata
/// (W3C `traceparent`/`tracestate`), so the handler's span is a child of the producer's, even
/// across processes.
///
/// # Protocol
///
/// - A producer calls [`publish_span`](Self::publish_span) before publishing; it injects the
///   trace context into `task.metadata` and returns the producer span (a child of the current
///   span), which the producer may enter around the publish call.
/// - A consumer calls [`process_scope`](Self::process_scope) for each delivery and runs the
///   handler inside the returned span and [`InTaskTrace`], so events the handler logs and
///   tasks it publishes belong to the task's trace.
/// - After settling, the consumer calls [`record_outcome`](Self::record_outcome).
/// - Implementations never fail and never block: tracing must not be able to stop work.
pub trait TaskTracer: Send + Sync + 'static {
    /// The producer span for publishing `task` to `destination`; injects its context.
    fn publish_span(&self, destination: &str, task: &mut Task) -> tracing::Span;

    /// As [`publish_span`](Self::publish_span), for a destination in this process: an
    /// implementation may make no producer span and inject the current context instead, so
    /// the handler's span is a child of the publisher's. The default makes the span.
    fn publish_in_process_span(&self, destination: &str, task: &mut Task) -> tracing::Span {
        self.publish_span(destination, task)
    }

    /// The span for publishing `task` to `queue`: [`publish_span`](Self::publish_span) when
    /// the queue [crosses processes](crate::TaskQueue::crosses_processes),
    /// [`publish_in_process_span`](Self::publish_in_process_span) otherwise.
    fn publish_span_to(&self, queue: &dyn crate::TaskQueue, task: &mut Task) -> tracing::Span {
        if queue.crosses_processes() {
            self.publish_span(queue.name(), task)
        } else {
            self.publish_in_process_span(queue.name(), task)
        }
    }

    /// The consumer span for handling `task` from `destination`, child of the injected context.
    fn process_span(&self, destination: &str, task: &Task) -> tracing::Span;

    /// What a consumer runs the handler in: the span, and the incoming trace to make
    /// current around it ([`InTaskTrace`]). A tracer that makes no span for this task
    /// returns `Span::none()` and the trace, which is far cheaper than a span that only
    /// carries it. The default: [`process_span`](Self::process_span) and no trace.
    fn process_scope(
        &self,
        destination: &str,
        task: &Task,
    ) -> (tracing::Span, Option<IncomingTrace>) {
        (self.process_span(destination, task), None)
    }

    /// Records how the delivery ended.
    fn record_outcome(&self, destination: &str, task: &Task, outcome: TaskOutcome<'_>) {
        let _ = (destination, task, outcome);
    }
}

/// A tracer that creates no spans and propagates nothing (tests, benchmarks, embedding).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopTaskTracer;

impl NoopTaskTracer {
    /// The no-op tracer as a shared trait object.
    pub fn shared() -> Arc<dyn TaskTracer> {
        Arc::new(Self)
    }
}

impl TaskTracer for NoopTaskTracer {
    fn publish_span(&self, _destination: &str, _task: &mut Task) -> tracing::Span {
        tracing::Span::none()
    }

    fn process_span(&self, _destination: &str, _task: &Task) -> tracing::Span {
        tracing::Span::none()
    }
}

//! Task tracing: how a task's trace context travels from producer to handler.

use std::sync::Arc;

use crate::task::Task;

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
/// - A consumer calls [`process_span`](Self::process_span) for each delivery and runs the
///   handler inside the returned span, so events the handler logs belong to the task's trace.
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

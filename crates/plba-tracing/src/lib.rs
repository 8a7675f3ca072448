//! Tracing and logging for PLBA.
//!
//! - [`Telemetry`] sets up `tracing`: log lines (pretty or JSON, stdout or stderr) under a
//!   filter that can be changed live, and OpenTelemetry spans exported by the configured
//!   exporter (none, log, OTLP over HTTP/protobuf) through a bounded batch queue, so export
//!   never blocks or fails task processing.
//! - [`OtelTaskTracer`] implements the contracts' `TaskTracer`: producer spans inject a W3C
//!   `traceparent` into task metadata; consumer spans continue that trace, so the handler's
//!   events belong to the producer's trace, across processes too. Span names and attributes
//!   follow the OpenTelemetry messaging conventions.
//! - [`RecentTraces`] keeps the last N task traces (steps with timestamps and outcome) for the
//!   control plane.

mod error;
mod exporter_log;
mod ids;
mod propagation;
mod recent;
mod task_context;
mod task_tracer;
mod telemetry;

pub use error::TracingError;
pub use recent::{RecentTraces, TaskTrace, TraceStep};
pub use task_tracer::OtelTaskTracer;
pub use telemetry::Telemetry;

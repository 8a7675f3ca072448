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
//!
//! Spans cost only where they are exported. The tracer makes OpenTelemetry spans only when
//! an exporter is configured and the task is sampled; otherwise `ids.rs` writes the
//! `traceparent` itself (fresh ids, the `sample_ratio` draw, strict parsing of what
//! arrives), and a queue worker runs the handler with the incoming trace id and sampling
//! flag current (`plba_contracts::IncomingTrace`, a thread-local set around each poll; see
//! `TaskTracer::process_scope`). A task published from that handler continues the same
//! trace with the same decision instead of starting a new one at every hop that does not
//! export. Callers of `process_span` itself get a *context span* (`task_context.rs`)
//! instead: a span of its own target, seen only by its own layer, that carries the same.
//!
//! The subscriber has three layers: the log lines behind a reloadable `EnvFilter`, the
//! OpenTelemetry spans behind a filter that always admits the task spans (target
//! `plba::task`), and the context layer. The context span's target lies outside
//! `plba::task`, since filters match targets by prefix: it is never exported.
//!
//! Invariants: exporting goes through the SDK's bounded batch queue on its own thread, so a
//! slow or dead collector drops spans and never blocks a task; every task carries a
//! `traceparent`, spans or not; an unsampled task makes no span in any process; the log
//! filter is the only part a reload changes live.

mod error;
mod exporter_log;
mod ids;
mod propagation;
mod recent;
mod sampler;
mod task_context;
mod task_tracer;
mod telemetry;

pub use error::TracingError;
pub use recent::{RecentTraces, TaskTrace, TraceStep};
pub use task_tracer::OtelTaskTracer;
pub use telemetry::Telemetry;

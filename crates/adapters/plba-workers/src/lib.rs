//! Generic workers for PLBA.
//!
//! - [`QueueWorkerPool`]: N copies consuming a [`TaskQueue`](plba_contracts::TaskQueue) and
//!   handing each task to a [`TaskHandler`](plba_contracts::TaskHandler): success acks,
//!   a transient error retries with exponential backoff, a permanent error dead-letters, a
//!   panic is caught and retried like a transient error.
//! - [`IntervalWorker`]: runs a [`Routine`] every period (housekeeping, polling).

mod histogram;
mod interval_worker;
mod metrics;
mod queue_worker;

pub use interval_worker::{IntervalWorker, Routine};
pub use metrics::{QueueWorkerMetrics, QueueWorkerMetricsSnapshot};
pub use queue_worker::{QueueWorker, QueueWorkerOptions, QueueWorkerPool};

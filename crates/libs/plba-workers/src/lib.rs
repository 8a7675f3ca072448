//! Generic workers for PLBA.
//!
//! - [`QueueWorkerPool`]: N copies consuming a [`TaskQueue`](plba_contracts::TaskQueue) and
//!   handing each task to a [`TaskHandler`](plba_contracts::TaskHandler): success acks,
//!   a transient error retries with exponential backoff, a permanent error dead-letters, a
//!   panic is caught and retried like a transient error.
//!   With a [`Limiter`](plba_contracts::Limiter) ([`QueueWorkerPool::limiter`]), a task with
//!   a limit key starts only when its key's rate and concurrency allow; otherwise it is put
//!   aside (`TaskQueue::defer`) and the copy takes the next task.
//! - [`IntervalWorker`]: runs a [`Routine`] every period (housekeeping, polling).
//! - [`FileScheduleStore`]: a schedule's record in a file, for one process that must catch up
//!   what it missed while down.
//! - [`LocalLimiter`]: rate (GCRA) and concurrency limits per key within one process.
//! - [`PublishJob`]: a schedule's job that publishes a task at each occurrence.

mod file_schedule_store;
mod histogram;
mod interval_worker;
mod local_limiter;
mod metrics;
mod publish_job;
mod queue_worker;

pub use file_schedule_store::FileScheduleStore;
pub use interval_worker::{IntervalWorker, Routine};
pub use local_limiter::{LocalLimiter, SLOT_RETRY};
pub use metrics::{QueueWorkerMetrics, QueueWorkerMetricsSnapshot};
pub use publish_job::PublishJob;
pub use queue_worker::{QueueWorker, QueueWorkerOptions, QueueWorkerPool};

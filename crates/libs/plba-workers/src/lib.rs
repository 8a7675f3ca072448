//! Generic workers for PLBA.
//!
//! - [`QueueWorkerPool`]: N copies consuming a [`TaskQueue`](plba_contracts::TaskQueue) and
//!   handing each task to a [`TaskHandler`](plba_contracts::TaskHandler): success acks,
//!   a transient error retries with exponential backoff, a permanent error dead-letters, a
//!   panic is caught and retried like a transient error.
//!   With a [`Limiter`](plba_contracts::Limiter) ([`QueueWorkerPool::limiter`]), a task with
//!   a limit key starts only when its key's rate and concurrency allow; otherwise it is put
//!   aside (`TaskQueue::defer`) and the copy takes the next task.
//!   [`QueueWorkerPool::register`] registers its queue, metrics and workers, traced with the
//!   registry's tracer.
//! - [`JsonHandler`]: a handler from an async function of a typed JSON payload; a payload
//!   that does not decode is a permanent error.
//! - [`IntervalWorker`]: runs a [`Routine`] every period (housekeeping, polling).
//! - [`FileScheduleStore`]: a schedule's record in a file, for one process that must catch up
//!   what it missed while down.
//! - [`LocalLimiter`]: rate (GCRA) and concurrency limits per key within one process.
//! - [`PublishJob`]: a schedule's job that publishes a task at each occurrence.
//!
//! How a [`QueueWorker`] copy settles each delivery:
//!
//! - The handler runs with panics caught and within a time limit (the task's own
//!   `plba.timeout-ms`, else the pool's `task_timeout`); a handler past it is dropped and
//!   the attempt counts as a transient failure. A transient failure or a panic is nacked
//!   with `retry_backoff.delay(attempt)` (full jitter by default), and the queue
//!   dead-letters it once its attempts are exhausted; a permanent failure is dead-lettered
//!   at once. A forced stop releases the unfinished task back to its queue, uncharged.
//! - With a limiter, a task held back is deferred on the queue for the limiter's wait plus
//!   up to a quarter more, so the copies of several processes do not come back in one
//!   instant; the permit of an admitted task is released after its delivery is settled,
//!   whatever the outcome.
//! - A copy whose queue is closed idles until stopped rather than spin. A copy that stops
//!   calls `TaskQueue::stop_consuming`, so settlements a backend writes behind are written
//!   and its read-ahead given back before the process exits.
//! - Per-pool counters and a handler-duration histogram ([`QueueWorkerMetrics`]) are
//!   exported as a `MetricsSource` ([`QueueWorkerPool::metrics_source`]).
//!
//! [`FileScheduleStore`] writes its record aside and renames it into place, so a crash
//! leaves the old record or the new one, never half of one.

mod file_schedule_store;
mod histogram;
mod interval_worker;
mod json_handler;
mod local_limiter;
mod metrics;
mod publish_job;
mod queue_worker;

pub use file_schedule_store::FileScheduleStore;
pub use interval_worker::{IntervalWorker, Routine};
pub use json_handler::JsonHandler;
pub use local_limiter::{LocalLimiter, SLOT_RETRY};
pub use metrics::{QueueWorkerMetrics, QueueWorkerMetricsSnapshot};
pub use publish_job::PublishJob;
pub use queue_worker::{QueueWorker, QueueWorkerOptions, QueueWorkerPool, SharedQueue};

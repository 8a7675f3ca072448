//! Workers: the active components the runtime supervises.

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::health::HealthReport;
pub use crate::status::WorkerStatus;

/// What the supervisor hands a worker copy each time it runs it.
///
/// Two signals: `stop` asks for a graceful stop (take no new work, finish what is in hand);
/// `force` means the graceful stop timed out: give back what is in hand (e.g.
/// [`crate::TaskQueue::release`]) and return at once. After `force` the supervisor aborts the
/// copy if it still runs.
#[derive(Clone, Debug)]
pub struct WorkerContext {
    copy: usize,
    stop: CancellationToken,
    force: CancellationToken,
}

impl WorkerContext {
    /// A context for copy number `copy` (0-based) of a pool.
    pub fn new(copy: usize, stop: CancellationToken, force: CancellationToken) -> Self {
        Self { copy, stop, force }
    }

    /// Which copy of its pool this run is (0-based).
    pub fn copy(&self) -> usize {
        self.copy
    }

    /// Fires when a graceful stop is requested.
    pub fn stop_token(&self) -> &CancellationToken {
        &self.stop
    }

    /// Fires when the graceful stop timed out and the worker must return now.
    pub fn force_token(&self) -> &CancellationToken {
        &self.force
    }

    /// Whether a graceful stop has been requested.
    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }
}

crate::message_error::message_error!(
    /// Why a worker run ended abnormally. The supervisor logs it and restarts the worker.
    WorkerError,
    "{message}"
);

/// A runtime-managed active component: a queue consumer, a mailbox poller, a timer.
///
/// # Protocol
///
/// - The supervisor calls [`run`](Self::run) on a runtime task. It runs until the context's
///   stop token fires, then finishes the work in hand and returns `Ok(())`.
/// - Returning `Err`, returning before a stop was asked for, or panicking are failures: the
///   supervisor logs them and runs the worker again after an exponential backoff. Too many
///   restarts within the policy's window make the worker unhealthy until the window clears.
/// - `run` may be called again after it returned (a restart, or a start after a stop), so a
///   worker resets whatever per-run state it keeps at the top of `run`.
/// - [`status`](Self::status) and [`health`](Self::health) are called at any time from
///   other tasks (status pages, probes): they read state, they never block or await.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use plba_contracts::{async_trait, Worker, WorkerContext, WorkerError, WorkerStatus};
///
/// // `plba_util::StatusCell` holds any status lock-free; two states need only a flag.
/// struct Heartbeat {
///     running: AtomicBool,
/// }
///
/// #[async_trait]
/// impl Worker for Heartbeat {
///     async fn run(&self, ctx: WorkerContext) -> Result<(), WorkerError> {
///         self.running.store(true, Ordering::Release);
///         ctx.stop_token().cancelled().await;
///         self.running.store(false, Ordering::Release);
///         Ok(())
///     }
///
///     fn status(&self) -> WorkerStatus {
///         if self.running.load(Ordering::Acquire) {
///             WorkerStatus::Idle
///         } else {
///             WorkerStatus::Stopped
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait Worker: Send + Sync + 'static {
    /// Runs until the stop token fires; see the trait docs.
    async fn run(&self, ctx: WorkerContext) -> Result<(), WorkerError>;

    /// What the worker is doing now.
    fn status(&self) -> WorkerStatus;

    /// Whether the worker is operational; ok unless the worker tracks something better.
    fn health(&self) -> HealthReport {
        HealthReport::Ok
    }
}

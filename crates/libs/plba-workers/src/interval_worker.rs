//! IntervalWorker: a routine run every period.

use plba_util::Unpoisoned;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use plba_contracts::{
    HealthReport, TaskError, Worker, WorkerContext, WorkerError, WorkerStatus, async_trait,
};
use plba_util::StatusCell;
use tokio::time::MissedTickBehavior;

/// A periodic job: housekeeping, a poll, a report.
#[async_trait]
pub trait Routine: Send + Sync + 'static {
    /// One run. An error or a panic is logged and makes the worker degraded until a run
    /// succeeds; the schedule goes on either way.
    async fn tick(&self) -> Result<(), TaskError>;
}

/// Runs a [`Routine`] every `period` (the first run at once). A run that overruns the period
/// delays the next one instead of bunching runs up. On a graceful stop, a run in progress
/// finishes; on a forced stop it is dropped.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use plba_contracts::{async_trait, TaskError, WorkerSpec};
/// use plba_workers::{IntervalWorker, Routine};
///
/// struct Cleanup;
/// #[async_trait]
/// impl Routine for Cleanup {
///     async fn tick(&self) -> Result<(), TaskError> { Ok(()) }
/// }
///
/// let worker = IntervalWorker::new(Arc::new(Cleanup), Duration::from_secs(60));
/// let spec = WorkerSpec::single("cleanup", Arc::new(worker));
/// ```
#[derive(Debug)]
pub struct IntervalWorker<R: ?Sized> {
    routine: Arc<R>,
    period: Duration,
    status: StatusCell,
    last_failure: Mutex<Option<String>>,
}

impl<R: Routine + ?Sized> IntervalWorker<R> {
    /// A worker running `routine` every `period`.
    pub fn new(routine: Arc<R>, period: Duration) -> Self {
        Self {
            routine,
            period,
            status: StatusCell::new(WorkerStatus::Stopped),
            last_failure: Mutex::new(None),
        }
    }

    fn record(&self, failure: Option<String>) {
        *self.last_failure.lock_or_recover() = failure;
    }
}

#[async_trait]
impl<R: Routine + ?Sized> Worker for IntervalWorker<R> {
    async fn run(&self, ctx: WorkerContext) -> Result<(), WorkerError> {
        let mut ticks = tokio::time::interval(self.period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        self.status.set(WorkerStatus::Idle);
        loop {
            tokio::select! {
                biased;
                () = ctx.stop_token().cancelled() => break,
                _ = ticks.tick() => {}
            }
            self.status.set(WorkerStatus::Busy);
            let run = AssertUnwindSafe(self.routine.tick()).catch_unwind();
            let outcome = tokio::select! {
                biased;
                outcome = run => outcome,
                () = ctx.force_token().cancelled() => break,
            };
            match outcome {
                Ok(Ok(())) => self.record(None),
                Ok(Err(error)) => {
                    let error = plba_util::error_chain(&error);
                    tracing::warn!(%error, "periodic routine failed");
                    self.record(Some(error));
                }
                Err(panic) => {
                    let message = format!(
                        "routine panicked: {}",
                        plba_util::panic_message(panic.as_ref())
                    );
                    tracing::error!(%message, "periodic routine panicked");
                    self.record(Some(message));
                }
            }
            self.status.set(WorkerStatus::Idle);
        }
        self.status.set(WorkerStatus::Stopped);
        Ok(())
    }

    fn status(&self) -> WorkerStatus {
        self.status.get()
    }

    fn health(&self) -> HealthReport {
        match &*self.last_failure.lock_or_recover() {
            None => HealthReport::Ok,
            Some(failure) => HealthReport::degraded(format!("last run failed: {failure}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use plba_contracts::{CancellationToken, HealthState};
    use plba_testkit::wait::{eventually, within};

    use super::*;

    struct FailsOnSecond(AtomicU32);

    #[async_trait]
    impl Routine for FailsOnSecond {
        async fn tick(&self) -> Result<(), TaskError> {
            match self.0.fetch_add(1, Ordering::SeqCst) {
                1 => Err(TaskError::transient("flaky")),
                2 => panic!("bad tick"),
                _ => Ok(()),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn runs_every_period_survives_failures_and_stops() {
        let routine = Arc::new(FailsOnSecond(AtomicU32::new(0)));
        let worker = Arc::new(IntervalWorker::new(
            Arc::clone(&routine),
            Duration::from_secs(10),
        ));
        let stop = CancellationToken::new();
        let ctx = WorkerContext::new(0, stop.clone(), CancellationToken::new());
        let running = tokio::spawn({
            let worker = Arc::clone(&worker);
            async move { worker.run(ctx).await }
        });
        eventually(Duration::from_secs(60), "two runs", || {
            routine.0.load(Ordering::SeqCst) >= 2
        })
        .await;
        eventually(Duration::from_secs(1), "degraded after failure", || {
            worker.health().state() == HealthState::Degraded
        })
        .await;
        eventually(Duration::from_secs(60), "four runs", || {
            routine.0.load(Ordering::SeqCst) >= 4
        })
        .await;
        eventually(Duration::from_secs(1), "ok after success", || {
            worker.health().state() == HealthState::Ok
        })
        .await;
        stop.cancel();
        within(Duration::from_secs(1), "stop", running)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(worker.status(), WorkerStatus::Stopped);
    }
}

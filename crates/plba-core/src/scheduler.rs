//! Runs registered schedules: one worker per schedule that waits for the next occurrence,
//! claims it in the schedule's store and runs its job.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use plba_contracts::{
    HealthReport, Jitter, Missed, Occurrence, Schedule, ScheduleStore, ScheduleStoreError,
    Timetable, Worker, WorkerContext, WorkerError, WorkerStatus, async_trait,
};
use plba_util::StatusCell;
use serde::Serialize;
use tracing::Instrument as _;

use crate::sync::lock;

/// `at` as RFC 3339 in UTC, to the millisecond, for the status page.
fn rfc3339(at: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// How late an occurrence may be noticed and still count as on time (not missed): a busy
/// runtime, a lease renewal in between.
const ON_TIME: Duration = Duration::from_secs(2);
/// The longest a schedule sleeps before looking at the clock again, so that a wall-clock
/// change (NTP step, suspend) is noticed.
const LONGEST_NAP: Duration = Duration::from_secs(60);
/// The longest a stopping schedule waits to give its lease back.
const RELEASE_WITHIN: Duration = Duration::from_secs(2);
/// Pause after the store failed to answer.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// A [`ScheduleStore`] in the process's memory: each process fires every occurrence itself,
/// and nothing is remembered across a restart (so nothing missed is caught up). The default
/// for a schedule registered without a store.
#[derive(Debug, Default)]
pub struct MemoryScheduleStore {
    fired: Mutex<HashMap<String, SystemTime>>,
}

impl MemoryScheduleStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ScheduleStore for MemoryScheduleStore {
    async fn last_fired(&self, schedule: &str) -> Result<Option<SystemTime>, ScheduleStoreError> {
        Ok(lock(&self.fired).get(schedule).copied())
    }

    async fn claim(
        &self,
        schedule: &str,
        occurrence: SystemTime,
    ) -> Result<bool, ScheduleStoreError> {
        let mut fired = lock(&self.fired);
        match fired.get(schedule) {
            Some(last) if *last >= occurrence => Ok(false),
            _ => {
                fired.insert(schedule.to_owned(), occurrence);
                Ok(true)
            }
        }
    }
}

/// One schedule as `/status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScheduleStatus {
    /// The schedule's name.
    pub name: String,
    /// When it fires (`cron "0 0 2 * * *" in Europe/Berlin`, `every 60s`).
    pub cadence: String,
    /// What happens to missed occurrences.
    pub missed: Missed,
    /// The next occurrence (RFC 3339, UTC), once the schedule runs.
    pub next_run: Option<String>,
    /// The latest occurrence fired or skipped by any instance sharing the store, as this
    /// instance last saw it.
    pub last_run: Option<String>,
    /// What this instance's latest attempt did: `ok`, `failed: …`, `skipped: …`.
    pub last_outcome: Option<String>,
    /// Occurrences this instance ran.
    pub runs: u64,
    /// Whether this instance holds the schedule's lease (`None` without a lease).
    pub holds_lease: Option<bool>,
}

/// What the runner shares with the status page.
#[derive(Debug)]
pub(crate) struct ScheduleState {
    status: Mutex<ScheduleStatus>,
}

impl ScheduleState {
    pub(crate) fn snapshot(&self) -> ScheduleStatus {
        lock(&self.status).clone()
    }

    fn update(&self, change: impl FnOnce(&mut ScheduleStatus)) {
        change(&mut lock(&self.status));
    }
}

/// The worker that runs one schedule.
pub(crate) struct ScheduleRunner {
    schedule: Schedule,
    timetable: Timetable,
    store: Arc<dyn ScheduleStore>,
    state: Arc<ScheduleState>,
    status: StatusCell,
}

impl ScheduleRunner {
    /// A runner for `schedule`, whose cadence was parsed into `timetable`.
    pub(crate) fn new(schedule: Schedule, timetable: Timetable) -> Self {
        let store = schedule
            .store()
            .cloned()
            .unwrap_or_else(|| Arc::new(MemoryScheduleStore::new()));
        let state = Arc::new(ScheduleState {
            status: Mutex::new(ScheduleStatus {
                name: schedule.name().to_owned(),
                cadence: schedule.cadence().to_string(),
                missed: schedule.missed_policy(),
                next_run: None,
                last_run: None,
                last_outcome: None,
                runs: 0,
                holds_lease: schedule.lease().map(|_| false),
            }),
        });
        Self {
            schedule,
            timetable,
            store,
            state,
            status: StatusCell::new(WorkerStatus::Stopped),
        }
    }

    pub(crate) fn state(&self) -> Arc<ScheduleState> {
        Arc::clone(&self.state)
    }

    fn name(&self) -> &str {
        self.schedule.name()
    }

    /// How late an occurrence may be noticed and still count as on time.
    fn grace(&self) -> Duration {
        ON_TIME
            + self
                .schedule
                .lease()
                .map_or(Duration::ZERO, |l| l.renew_interval())
    }

    fn store_failed(&self, error: &ScheduleStoreError) {
        let reason = plba_util::error_chain(error);
        tracing::warn!(schedule = self.name(), error = %reason, "schedule store unavailable; will retry");
        self.state
            .update(|s| s.last_outcome = Some(format!("failed: {reason}")));
    }

    /// Claims `occurrence` and, when this instance got it and `run` is set, runs the job.
    /// `None` when the store failed or a forced stop cut the run short.
    async fn claim_and_run(
        &self,
        occurrence: SystemTime,
        previous: Option<SystemTime>,
        run: bool,
        ctx: &WorkerContext,
    ) -> Option<()> {
        let claim = tokio::select! {
            claim = self.store.claim(self.name(), occurrence) => claim,
            () = ctx.stop_token().cancelled() => return None,
        };
        let claimed = match claim {
            Ok(claimed) => claimed,
            Err(error) => {
                self.store_failed(&error);
                return None;
            }
        };
        if !claimed {
            // Another instance fired it (or a later one) first.
            self.state
                .update(|s| s.last_run = Some(rfc3339(occurrence)));
            return Some(());
        }
        if !run {
            tracing::info!(
                schedule = self.name(),
                occurrence = rfc3339(occurrence),
                "occurrence missed; skipped by policy"
            );
            self.state.update(|s| {
                s.last_run = Some(rfc3339(occurrence));
                s.last_outcome = Some("skipped: missed while no instance could run it".to_owned());
            });
            return Some(());
        }
        self.status.set(WorkerStatus::Busy);
        let this = Occurrence {
            at: occurrence,
            previous,
        };
        // Each run in a span of its own: what the job publishes continues this trace.
        let span = tracing::info_span!(
            "schedule",
            schedule = self.name(),
            occurrence = %rfc3339(occurrence)
        );
        let job = AssertUnwindSafe(self.schedule.job().run(this).instrument(span)).catch_unwind();
        let outcome = tokio::select! {
            biased;
            outcome = job => outcome,
            () = ctx.force_token().cancelled() => return None,
        };
        self.status.set(WorkerStatus::Idle);
        let text = match outcome {
            Ok(Ok(())) => {
                tracing::info!(
                    schedule = self.name(),
                    occurrence = rfc3339(occurrence),
                    "scheduled job ran"
                );
                "ok".to_owned()
            }
            Ok(Err(error)) => {
                let error = plba_util::error_chain(&error);
                tracing::warn!(schedule = self.name(), occurrence = rfc3339(occurrence), %error, "scheduled job failed");
                format!("failed: {error}")
            }
            Err(panic) => {
                let message = plba_util::panic_message(panic.as_ref());
                tracing::error!(schedule = self.name(), occurrence = rfc3339(occurrence), %message, "scheduled job panicked");
                format!("failed: the job panicked: {message}")
            }
        };
        // Last run, outcome and next run change together: a reader never sees one without
        // the others.
        let next = self.timetable.next_after(occurrence).map(rfc3339);
        self.state.update(|s| {
            s.runs += 1;
            s.last_run = Some(rfc3339(occurrence));
            s.last_outcome = Some(text);
            s.next_run = next;
        });
        Some(())
    }

    /// Handles whatever fell due after `cursor`; returns the new cursor, or `None` to read
    /// it again from the store.
    async fn settle_due(
        &self,
        cursor: SystemTime,
        previous: Option<SystemTime>,
        ctx: &WorkerContext,
    ) -> Option<Option<SystemTime>> {
        let now = SystemTime::now();
        let next = self.timetable.next_after(cursor)?;
        if next > now {
            return Some(Some(cursor));
        }
        let latest = self.timetable.latest_until(now).unwrap_or(next).max(next);
        let on_time = now.duration_since(latest).unwrap_or_default() <= self.grace();
        let run = on_time || self.schedule.missed_policy() == Missed::RunOnce;
        match self.claim_and_run(latest, previous, run, ctx).await {
            Some(()) => Some(Some(latest)),
            None => Some(None),
        }
    }

    async fn nap(&self, cursor: Option<SystemTime>, ctx: &WorkerContext) {
        let now = SystemTime::now();
        let next = cursor.and_then(|c| self.timetable.next_after(c));
        self.state.update(|s| s.next_run = next.map(rfc3339));
        let mut nap = next.map_or(LONGEST_NAP, |n| n.duration_since(now).unwrap_or_default());
        nap = nap.min(LONGEST_NAP);
        if let Some(lease) = self.schedule.lease() {
            nap = nap.min(lease.renew_interval());
        }
        tokio::select! {
            () = ctx.stop_token().cancelled() => {}
            () = tokio::time::sleep(nap) => {}
        }
    }
}

#[async_trait]
impl Worker for ScheduleRunner {
    async fn run(&self, ctx: WorkerContext) -> Result<(), WorkerError> {
        self.status.set(WorkerStatus::Idle);
        // The latest occurrence handled, as far as this instance knows; `None`: ask the store.
        let mut cursor: Option<SystemTime> = None;
        // The latest occurrence claimed anywhere, as the store said or this instance saw.
        let mut previous: Option<SystemTime> = None;
        let started = SystemTime::now();
        while !ctx.is_stopping() {
            if let Some(lease) = self.schedule.lease() {
                // A lease backend that hangs must not hold a stop up.
                let held = tokio::select! {
                    () = ctx.stop_token().cancelled() => break,
                    held = lease.hold() => held,
                };
                self.state.update(|s| s.holds_lease = Some(held));
                if !held {
                    // Whoever holds it moves the store on; read it afresh when it comes here.
                    cursor = None;
                    self.nap(None, &ctx).await;
                    continue;
                }
            }
            if cursor.is_none() {
                let last = tokio::select! {
                    () = ctx.stop_token().cancelled() => break,
                    last = self.store.last_fired(self.name()) => last,
                };
                match last {
                    // Never fired anywhere: start from now, there is nothing to catch up.
                    Ok(last) => {
                        previous = last;
                        cursor = Some(last.unwrap_or(started));
                        if let Some(last) = last {
                            self.state.update(|s| s.last_run = Some(rfc3339(last)));
                        }
                    }
                    Err(error) => {
                        self.store_failed(&error);
                        tokio::select! {
                            () = ctx.stop_token().cancelled() => break,
                            () = tokio::time::sleep(Jitter::Equal.spread(STORE_RETRY)) => continue,
                        }
                    }
                }
            }
            if let Some(at) = cursor {
                match self.settle_due(at, previous, &ctx).await {
                    Some(Some(moved)) if moved != at => {
                        cursor = Some(moved);
                        previous = Some(moved);
                        continue;
                    }
                    Some(Some(_)) => {}
                    Some(None) => {
                        // The store failed (or a forced stop cut a run short): read the
                        // store again after a pause.
                        cursor = None;
                        if ctx.force_token().is_cancelled() {
                            break;
                        }
                        tokio::select! {
                            () = ctx.stop_token().cancelled() => break,
                            () = tokio::time::sleep(Jitter::Equal.spread(STORE_RETRY)) => continue,
                        }
                    }
                    None => {
                        tracing::error!(
                            schedule = self.name(),
                            "the schedule has no next occurrence; it stops firing"
                        );
                        self.state.update(|s| {
                            s.last_outcome = Some("failed: no next occurrence".to_owned());
                        });
                        ctx.stop_token().cancelled().await;
                        break;
                    }
                }
            }
            self.nap(cursor, &ctx).await;
        }
        if let Some(lease) = self.schedule.lease() {
            // It lapses by itself if its backend does not answer.
            let _ = tokio::time::timeout(RELEASE_WITHIN, lease.release()).await;
            self.state.update(|s| s.holds_lease = Some(false));
        }
        self.status.set(WorkerStatus::Stopped);
        Ok(())
    }

    fn status(&self) -> WorkerStatus {
        self.status.get()
    }

    fn health(&self) -> HealthReport {
        match self.state.snapshot().last_outcome {
            Some(outcome) if outcome.starts_with("failed") => {
                HealthReport::degraded(format!("schedule {:?}: {outcome}", self.name()))
            }
            _ => HealthReport::Ok,
        }
    }
}

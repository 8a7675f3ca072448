//! Schedules: work that runs at set times (a cron expression or a fixed period), at most
//! once per occurrence across every instance that shares a [`ScheduleStore`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::handler::TaskError;
use crate::lease::Lease;

/// When a schedule fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cadence {
    /// A cron expression (5 fields, or 6 with seconds first: `"0 30 2 * * *"` is 02:30:00
    /// daily), read in an IANA time zone (`"Europe/Berlin"`, `"UTC"`). The runtime checks
    /// both when the schedule is registered.
    Cron {
        /// The expression.
        expression: String,
        /// The time zone it is read in.
        time_zone: String,
    },
    /// Every `period`, at multiples of it since the Unix epoch, so that every instance
    /// agrees on the occurrences.
    Every(Duration),
}

impl fmt::Display for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cron {
                expression,
                time_zone,
            } => write!(f, "cron {expression:?} in {time_zone}"),
            Self::Every(period) => write!(f, "every {period:?}"),
        }
    }
}

/// What happens to occurrences that passed while no instance could fire them (every
/// instance was down, the store unreachable).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Missed {
    /// Forget them; the next occurrence runs as usual. For work whose result is only
    /// worth having on time (a reminder, a poll).
    #[default]
    Skip,
    /// Run once on recovery, for the latest missed occurrence, however many were missed.
    /// For work that must happen (a nightly report, a cleanup).
    RunOnce,
}

/// One occurrence a job runs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Occurrence {
    /// The moment this run stands for (midnight, say), not "now": a run caught up after
    /// an outage still stands for the occurrence it replaces.
    pub at: SystemTime,
    /// The occurrence claimed before this one by any instance sharing the store (`None` on
    /// the first run the store knows of): where a job that covers the time between its runs
    /// starts, also after occurrences were missed or skipped.
    pub previous: Option<SystemTime>,
}

/// The work a schedule does at each occurrence.
///
/// ```
/// use plba_contracts::{async_trait, Occurrence, ScheduledJob, TaskError};
///
/// struct Cleanup;
/// #[async_trait]
/// impl ScheduledJob for Cleanup {
///     async fn run(&self, occurrence: Occurrence) -> Result<(), TaskError> {
///         let _ = occurrence.at; // the moment this run stands for, not "now"
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait ScheduledJob: Send + Sync + 'static {
    /// Runs `occurrence`. An error (or a panic) is logged and shown in the runtime's status;
    /// the occurrence is not run again (retry inside the job, or publish a task, when it
    /// must not be lost).
    async fn run(&self, occurrence: Occurrence) -> Result<(), TaskError>;
}

crate::message_error::message_error!(
    /// Why a [`ScheduleStore`] could not answer.
    ScheduleStoreError,
    "schedule store: {message}"
);

/// Where the occurrences a schedule fired are recorded, shared by every instance that runs
/// the schedule.
///
/// # Protocol
///
/// [`claim`](Self::claim) is a compare-and-set: it records `occurrence` and answers `true`
/// only when no equal or later occurrence was recorded for the schedule, atomically. An
/// instance runs an occurrence only after claiming it, so each occurrence runs at most once,
/// however many instances race for it.
#[async_trait]
pub trait ScheduleStore: Send + Sync + 'static {
    /// The latest occurrence claimed for `schedule`, if any.
    async fn last_fired(&self, schedule: &str) -> Result<Option<SystemTime>, ScheduleStoreError>;

    /// Records `occurrence` for `schedule` unless it or a later one is recorded; whether it
    /// was.
    async fn claim(
        &self,
        schedule: &str,
        occurrence: SystemTime,
    ) -> Result<bool, ScheduleStoreError>;
}

/// A schedule to register with [`Registry::add_schedule`](crate::Registry::add_schedule).
///
/// Without a store, occurrences are recorded in the process (each instance fires every
/// occurrence); with a shared store (Redis) each occurrence runs once across the instances,
/// and with a [`Lease`] as well only its holder even tries (a lease without a store is
/// refused at registration). An occurrence is claimed before it runs:
/// a process that dies mid-run does not run it again (publish a task from the schedule when
/// the work must not be lost: the queue retries it).
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use plba_contracts::{async_trait, Missed, Occurrence, Schedule, ScheduledJob, TaskError};
///
/// struct Report;
/// #[async_trait]
/// impl ScheduledJob for Report {
///     async fn run(&self, _occurrence: Occurrence) -> Result<(), TaskError> { Ok(()) }
/// }
///
/// // 02:30 every night, Berlin time; a night missed is caught up once.
/// let nightly = Schedule::cron("nightly-report", "0 30 2 * * *", "Europe/Berlin", Arc::new(Report))
///     .missed(Missed::RunOnce);
/// let heartbeat = Schedule::every("heartbeat", Duration::from_secs(60), Arc::new(Report));
/// assert_eq!(nightly.name(), "nightly-report");
/// // registry.add_schedule(nightly)?;
/// ```
#[derive(Clone)]
pub struct Schedule {
    name: String,
    cadence: Cadence,
    missed: Missed,
    job: Arc<dyn ScheduledJob>,
    lease: Option<Arc<dyn Lease>>,
    store: Option<Arc<dyn ScheduleStore>>,
}

impl Schedule {
    /// Runs `job` at the occurrences of the cron `expression` in `time_zone`.
    pub fn cron(
        name: impl Into<String>,
        expression: impl Into<String>,
        time_zone: impl Into<String>,
        job: Arc<dyn ScheduledJob>,
    ) -> Self {
        Self::new(
            name,
            Cadence::Cron {
                expression: expression.into(),
                time_zone: time_zone.into(),
            },
            job,
        )
    }

    /// Runs `job` every `period`.
    pub fn every(name: impl Into<String>, period: Duration, job: Arc<dyn ScheduledJob>) -> Self {
        Self::new(name, Cadence::Every(period), job)
    }

    /// Runs `job` on `cadence`.
    pub fn new(name: impl Into<String>, cadence: Cadence, job: Arc<dyn ScheduledJob>) -> Self {
        Self {
            name: name.into(),
            cadence,
            missed: Missed::default(),
            job,
            lease: None,
            store: None,
        }
    }

    /// What to do with missed occurrences (default: skip them).
    #[must_use]
    pub fn missed(mut self, missed: Missed) -> Self {
        self.missed = missed;
        self
    }

    /// Only the holder of `lease` fires occurrences. Needs a shared store
    /// ([`with_store`](Self::with_store)) too: a new holder reads there what the last one ran.
    #[must_use]
    pub fn with_lease(mut self, lease: Arc<dyn Lease>) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Records fired occurrences in `store`, shared with the other instances.
    #[must_use]
    pub fn with_store(mut self, store: Arc<dyn ScheduleStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The schedule's name (status, logs, the store's key).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When it fires.
    pub fn cadence(&self) -> &Cadence {
        &self.cadence
    }

    /// Its missed-occurrence policy.
    pub fn missed_policy(&self) -> Missed {
        self.missed
    }

    /// Its job.
    pub fn job(&self) -> &Arc<dyn ScheduledJob> {
        &self.job
    }

    /// Its lease, if any.
    pub fn lease(&self) -> Option<&Arc<dyn Lease>> {
        self.lease.as_ref()
    }

    /// Its store, if one was given.
    pub fn store(&self) -> Option<&Arc<dyn ScheduleStore>> {
        self.store.as_ref()
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("name", &self.name)
            .field("cadence", &self.cadence)
            .field("missed", &self.missed)
            .field("lease", &self.lease.as_ref().map(|l| l.holder().to_owned()))
            .field("shared_store", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

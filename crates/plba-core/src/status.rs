//! Status snapshots: what the runtime and each worker copy are doing now.

use std::time::Duration;

use plba_contracts::{HealthState, QueueStats, WorkerStatus};
use serde::Serialize;

use crate::state::RuntimeState;

/// One copy of a worker pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CopyStatus {
    /// Copy number within the pool (0-based).
    pub copy: usize,
    /// What it is doing.
    pub status: WorkerStatus,
    /// Its own health report's state.
    pub health: HealthState,
    /// Its health reason, unless ok.
    pub health_reason: Option<String>,
    /// Restarts since the runtime was created.
    pub restarts: u64,
    /// The error that caused the latest restart.
    pub last_error: Option<String>,
}

/// A worker pool and its copies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PoolStatus {
    /// The pool's name.
    pub name: String,
    /// The most active status among the copies (busy > idle > starting > stopping > stopped).
    pub status: WorkerStatus,
    /// Whether the pool is critical for health.
    pub critical: bool,
    /// Each copy.
    pub copies: Vec<CopyStatus>,
}

/// A queue's stats, or why they could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueueStatus {
    /// The queue's name.
    pub name: String,
    /// Its stats, when the backend answered.
    pub stats: Option<QueueStats>,
    /// The backend's error otherwise.
    pub error: Option<String>,
}

/// Everything `/status` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuntimeStatus {
    /// The lifecycle state.
    pub state: RuntimeState,
    /// Time since the last start, while started.
    pub uptime: Option<Duration>,
    /// Each worker pool.
    pub workers: Vec<PoolStatus>,
    /// Each registered queue.
    pub queues: Vec<QueueStatus>,
    /// Each registered schedule: its next and last run.
    pub schedules: Vec<crate::ScheduleStatus>,
}

/// Orders statuses by how much they say about activity, for pool aggregation.
pub(crate) fn activity_rank(status: WorkerStatus) -> u8 {
    match status {
        WorkerStatus::Stopped => 0,
        WorkerStatus::Stopping => 1,
        WorkerStatus::Starting => 2,
        WorkerStatus::Idle => 3,
        WorkerStatus::Busy => 4,
    }
}

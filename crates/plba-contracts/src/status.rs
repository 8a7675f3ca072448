//! Worker status: what a worker is doing right now.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

use serde::Serialize;

/// What a worker is doing now (not whether it is well: that is [`crate::HealthReport`], from `Worker::health`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerStatus {
    /// Spawned, preparing (connecting, warming up).
    Starting,
    /// Running, waiting for work.
    Idle,
    /// Running, working on something.
    Busy,
    /// Asked to stop, finishing what it holds.
    Stopping,
    /// Not running.
    Stopped,
}

impl WorkerStatus {
    fn to_u8(self) -> u8 {
        match self {
            Self::Starting => 0,
            Self::Idle => 1,
            Self::Busy => 2,
            Self::Stopping => 3,
            Self::Stopped => 4,
        }
    }

    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Starting,
            1 => Self::Idle,
            2 => Self::Busy,
            3 => Self::Stopping,
            _ => Self::Stopped,
        }
    }

    /// The lowercase name used in JSON and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Idle => "idle",
            Self::Busy => "busy",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
        }
    }
}

impl fmt::Display for WorkerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lock-free cell holding a [`WorkerStatus`], so a worker can publish its status from its
/// run loop while the supervisor reads it from elsewhere.
///
/// ```
/// use plba_contracts::{StatusCell, WorkerStatus};
///
/// let cell = StatusCell::new(WorkerStatus::Stopped);
/// cell.set(WorkerStatus::Busy);
/// assert_eq!(cell.get(), WorkerStatus::Busy);
/// ```
pub struct StatusCell(AtomicU8);

impl StatusCell {
    /// A cell holding `status`.
    pub const fn new(status: WorkerStatus) -> Self {
        // const fn cannot call to_u8 through a match on self in older editions; keep it explicit.
        let value = match status {
            WorkerStatus::Starting => 0,
            WorkerStatus::Idle => 1,
            WorkerStatus::Busy => 2,
            WorkerStatus::Stopping => 3,
            WorkerStatus::Stopped => 4,
        };
        Self(AtomicU8::new(value))
    }

    /// The current status.
    pub fn get(&self) -> WorkerStatus {
        WorkerStatus::from_u8(self.0.load(Ordering::Acquire))
    }

    /// Publishes a new status.
    pub fn set(&self, status: WorkerStatus) {
        self.0.store(status.to_u8(), Ordering::Release);
    }
}

impl Default for StatusCell {
    fn default() -> Self {
        Self::new(WorkerStatus::Stopped)
    }
}

impl fmt::Debug for StatusCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StatusCell").field(&self.get()).finish()
    }
}

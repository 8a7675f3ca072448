//! A worker's status in a lock-free cell: the worker publishes it from its run loop while
//! the supervisor and `/status` read it from elsewhere.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

use plba_contracts::WorkerStatus;

const fn to_u8(status: WorkerStatus) -> u8 {
    match status {
        WorkerStatus::Starting => 0,
        WorkerStatus::Idle => 1,
        WorkerStatus::Busy => 2,
        WorkerStatus::Stopping => 3,
        WorkerStatus::Stopped => 4,
    }
}

const fn from_u8(value: u8) -> WorkerStatus {
    match value {
        0 => WorkerStatus::Starting,
        1 => WorkerStatus::Idle,
        2 => WorkerStatus::Busy,
        3 => WorkerStatus::Stopping,
        _ => WorkerStatus::Stopped,
    }
}

/// A lock-free cell holding a [`WorkerStatus`], so a worker can publish its status from its
/// run loop while the supervisor reads it from elsewhere.
///
/// ```
/// use plba_contracts::WorkerStatus;
/// use plba_util::StatusCell;
///
/// let cell = StatusCell::new(WorkerStatus::Stopped);
/// cell.set(WorkerStatus::Busy);
/// assert_eq!(cell.get(), WorkerStatus::Busy);
/// ```
pub struct StatusCell(AtomicU8);

impl StatusCell {
    /// A cell holding `status`.
    pub const fn new(status: WorkerStatus) -> Self {
        Self(AtomicU8::new(to_u8(status)))
    }

    /// The current status.
    pub fn get(&self) -> WorkerStatus {
        from_u8(self.0.load(Ordering::Acquire))
    }

    /// Publishes a new status.
    pub fn set(&self, status: WorkerStatus) {
        self.0.store(to_u8(status), Ordering::Release);
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

//! Worker status: what a worker is doing right now.

use std::fmt;

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

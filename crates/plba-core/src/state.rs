//! The runtime's lifecycle states.

use std::fmt;

use serde::Serialize;

/// The lifecycle: created → starting → running → stopping → stopped → starting → …
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeState {
    /// Modules may register; nothing runs yet.
    Created,
    /// Workers are being spawned.
    Starting,
    /// Workers run.
    Running,
    /// A stop is in progress: no new work is taken, work in hand finishes.
    Stopping,
    /// Nothing runs; `start` may be called again.
    Stopped,
}

impl RuntimeState {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
        }
    }
}

impl fmt::Display for RuntimeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

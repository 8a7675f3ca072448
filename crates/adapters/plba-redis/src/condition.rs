//! What a queue knows about its Redis, kept current by the round trips it makes anyway
//! (consumers' reads, the maintenance task), so health and stats answer from memory at once
//! instead of waiting on a Redis that may not answer.

use plba_util::Unpoisoned;
use std::sync::{Arc, Mutex};

use plba_contracts::HealthReport;
use redis::RedisError;
use tokio::time::Instant;

/// Whether a task can be consumed now, and if not, why.
#[derive(Debug, Default)]
pub(crate) struct Condition {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Since when round trips fail to reach Redis, and the latest failure.
    unreachable: Option<(Instant, String)>,
    /// Why the consumer group is missing and not recreated yet.
    group_missing: Option<String>,
}

impl Condition {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain data: a panic elsewhere while locked leaves it usable.
        self.state.lock_or_recover()
    }

    /// A round trip succeeded.
    pub(crate) fn reachable(&self, queue: &str) {
        if let Some((since, _)) = self.lock().unreachable.take() {
            tracing::info!(queue, down_for = ?since.elapsed(), "Redis answers again");
        }
    }

    /// A round trip could not reach Redis.
    pub(crate) fn unreachable(&self, queue: &str, error: &RedisError) {
        let mut state = self.lock();
        match &mut state.unreachable {
            Some((_, last)) => *last = error.to_string(),
            None => {
                tracing::warn!(queue, %error, "Redis unreachable; tasks wait until it answers again");
                state.unreachable = Some((Instant::now(), error.to_string()));
            }
        }
    }

    /// The consumer group is gone (Redis lost its data, or someone deleted it).
    pub(crate) fn group_missing(&self, reason: String) {
        self.lock().group_missing = Some(reason);
    }

    /// The consumer group exists (again).
    pub(crate) fn group_present(&self) {
        self.lock().group_missing = None;
    }

    /// Why no task can be consumed now, if none can.
    pub(crate) fn blocked(&self) -> Option<String> {
        let state = self.lock();
        if let Some((since, error)) = &state.unreachable {
            return Some(format!(
                "Redis unreachable for {:?}: {error}",
                since.elapsed()
            ));
        }
        state
            .group_missing
            .as_ref()
            .map(|reason| format!("consumer group missing, recreating it: {reason}"))
    }

    /// Unhealthy while no task can be consumed — not merely degraded: a process that
    /// cannot take work must not be sent any, however long that lasts.
    pub(crate) fn health(&self) -> HealthReport {
        match self.blocked() {
            Some(reason) => HealthReport::unhealthy(reason),
            None => HealthReport::ok(),
        }
    }
}

/// Whether `error` means Redis could not be reached or is not serving yet (down,
/// restarting, loading its data, failing over) rather than that a command was wrong:
/// worth waiting out.
pub(crate) fn is_outage(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || matches!(
            error.code(),
            Some("LOADING" | "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN")
        )
}

/// Whether `error` says the stream or its consumer group does not exist: `NOGROUP`, or
/// `UNBLOCKED` when the stream a blocking read waited on was deleted.
pub(crate) fn is_missing_group(error: &RedisError) -> bool {
    matches!(error.code(), Some("NOGROUP" | "UNBLOCKED")) || {
        // Inside a transaction or a script the code is only in the text.
        let text = error.to_string();
        text.contains("NOGROUP") || text.contains("no longer exists")
    }
}

/// Called when the queue lost tasks: whoever published them must publish them again.
pub(crate) type LostListener = Arc<dyn Fn() + Send + Sync>;

/// The listeners told when the queue's contents were lost.
#[derive(Default)]
pub(crate) struct LostListeners {
    listeners: Mutex<Vec<LostListener>>,
}

impl LostListeners {
    pub(crate) fn add(&self, listener: LostListener) {
        self.listeners.lock_or_recover().push(listener);
    }

    pub(crate) fn notify(&self) {
        // Called outside the lock: a listener may take its own locks.
        let listeners: Vec<LostListener> = self.listeners.lock_or_recover().clone();
        for listener in listeners {
            listener();
        }
    }
}

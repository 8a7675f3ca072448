//! The connection cap of the control plane: how many connections it holds at once, which one
//! gives way to a newcomer, and how many requests other than the probes may be in progress.
//!
//! Whether a connection will carry a probe is only known once its request head is in, so
//! slots are not reserved per connection. Instead:
//!
//! * at most `max_connections` connections are open; at the cap a new connection closes the
//!   one that has been idle longest (between requests, or accepted and still sending its
//!   head), so idle connections can never lock newcomers out, and a probe, which sends its
//!   request at once, gets in;
//! * at most `max_connections` minus a reserve (an eighth, at least one) of requests other
//!   than probes are in progress at once; beyond it they are answered 503 at once. So at
//!   least the reserve of connections is always idle or probing, and a newcomer finds one to
//!   replace however busy the rest are.
//!
//! Only when every connection is in the middle of a request (the reserve all probing) is a new
//! connection refused.

use plba_util::Unpoisoned;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use plba_contracts::{CancellationToken, MetricFamily, MetricKind, MetricValue};

/// The smallest cap that leaves one slot for the probes and one for everything else
/// (configuration validation refuses less; a configuration built in code gets this).
const MIN_CONNECTIONS: usize = 2;

/// Tracks a control plane's open connections and requests in progress against its cap.
#[derive(Debug)]
pub(crate) struct ConnectionLimiter {
    max: usize,
    /// Requests other than probes that may be in progress at once; the other slots are the
    /// probes' reserve.
    shared: usize,
    state: Mutex<State>,
    evicted: AtomicU64,
    refused_connections: AtomicU64,
    refused_requests: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// Connection ids and idle stamps come from this one counter, so a lower stamp means
    /// idle for longer.
    next: u64,
    open: HashMap<u64, Entry>,
    /// The connections with no request in progress: idle stamp → connection id.
    idle: BTreeMap<u64, u64>,
    /// Requests other than probes in progress.
    busy_shared: usize,
    /// Whether the cap was reached since the connections last fell to half of it, so a
    /// flood is reported once rather than per connection.
    saturated: bool,
}

#[derive(Debug)]
struct Entry {
    /// The key in `State::idle` while the connection has no request in progress.
    idle_since: Option<u64>,
    evict: CancellationToken,
}

impl ConnectionLimiter {
    /// A limiter for at most `max_connections` connections (at least two).
    pub(crate) fn new(max_connections: usize) -> Self {
        let max = max_connections.max(MIN_CONNECTIONS);
        let reserve = (max / 8).max(1);
        Self {
            max,
            shared: max - reserve,
            state: Mutex::new(State::default()),
            evicted: AtomicU64::new(0),
            refused_connections: AtomicU64::new(0),
            refused_requests: AtomicU64::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every step, so a panic elsewhere never invalidates it.
        self.state.lock_or_recover()
    }

    /// A slot for a newly accepted connection; at the cap the longest-idle connection is told
    /// to close to make room. `None` when every connection has a request in progress.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut state = self.state();
        if state.open.len() >= self.max {
            if !state.saturated {
                state.saturated = true;
                tracing::warn!(
                    max_connections = self.max,
                    "control plane at its connection cap: the longest-idle connections are closed to make room (platform.control.max_connections)"
                );
            }
            let Some((_, victim)) = state.idle.pop_first() else {
                drop(state);
                self.refused_connections.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("control plane connection refused: every connection is busy");
                return None;
            };
            if let Some(entry) = state.open.remove(&victim) {
                entry.evict.cancel();
            }
            self.evicted.fetch_add(1, Ordering::Relaxed);
        }
        let id = state.next;
        let stamp = id + 1;
        state.next += 2;
        let evict = CancellationToken::new();
        state.open.insert(
            id,
            Entry {
                idle_since: Some(stamp),
                evict: evict.clone(),
            },
        );
        state.idle.insert(stamp, id);
        Some(Slot {
            limiter: Arc::clone(self),
            id,
            evict,
        })
    }

    /// The metric families of the connections: open, cap, closed to make room, refused.
    pub(crate) fn families(&self) -> Vec<MetricFamily> {
        let open = self.state().open.len();
        let gauge = |name: &str, help: &str, value: usize| {
            MetricFamily::new(name, help, MetricKind::Gauge)
                .with_sample(&[], MetricValue::Gauge(value as f64))
        };
        let counter = |name: &str, help: &str, value: &AtomicU64| {
            MetricFamily::new(name, help, MetricKind::Counter)
                .with_sample(&[], MetricValue::Counter(value.load(Ordering::Relaxed)))
        };
        vec![
            gauge(
                "plba_control_connections",
                "Connections the control plane holds open.",
                open,
            ),
            gauge(
                "plba_control_connections_max",
                "Most connections the control plane holds open (platform.control.max_connections).",
                self.max,
            ),
            counter(
                "plba_control_connections_evicted_total",
                "Idle control-plane connections closed to make room for a new one.",
                &self.evicted,
            ),
            counter(
                "plba_control_connections_refused_total",
                "Control-plane connections refused because every connection was busy.",
                &self.refused_connections,
            ),
            counter(
                "plba_control_requests_refused_total",
                "Control-plane requests answered 503 because the slots other than the probes' reserve were busy.",
                &self.refused_requests,
            ),
        ]
    }
}

/// One open connection's place under the cap; released when dropped.
pub(crate) struct Slot {
    limiter: Arc<ConnectionLimiter>,
    id: u64,
    evict: CancellationToken,
}

impl Slot {
    /// Cancelled when the connection is closed to make room for a newer one.
    pub(crate) fn evicted(&self) -> CancellationToken {
        self.evict.clone()
    }

    /// Marks a request in progress until the guard is dropped, so the connection is not
    /// closed under it. `None` when the request is not a probe and the slots outside the
    /// probes' reserve are all busy.
    pub(crate) fn begin(&self, probe: bool) -> Option<RequestGuard<'_>> {
        let limiter = &self.limiter;
        let mut state = limiter.state();
        if !probe {
            if state.busy_shared >= limiter.shared {
                drop(state);
                limiter.refused_requests.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("control plane request refused: only the probes' reserve is left");
                return None;
            }
            state.busy_shared += 1;
        }
        let stamp = state
            .open
            .get_mut(&self.id)
            .and_then(|entry| entry.idle_since.take());
        if let Some(stamp) = stamp {
            state.idle.remove(&stamp);
        }
        Some(RequestGuard { slot: self, probe })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let limiter = &self.limiter;
        let mut state = limiter.state();
        // An evicted connection has already given its place up.
        if let Some(entry) = state.open.remove(&self.id)
            && let Some(stamp) = entry.idle_since
        {
            state.idle.remove(&stamp);
        }
        if state.open.len() <= limiter.max / 2 {
            state.saturated = false;
        }
    }
}

/// A request in progress on a connection (see [`Slot::begin`]).
pub(crate) struct RequestGuard<'a> {
    slot: &'a Slot,
    probe: bool,
}

impl Drop for RequestGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.slot.limiter.state();
        if !self.probe {
            state.busy_shared = state.busy_shared.saturating_sub(1);
        }
        // Idle again, and the most recently so: closed last to make room.
        let stamp = state.next;
        state.next += 1;
        if let Some(entry) = state.open.get_mut(&self.slot.id) {
            entry.idle_since = Some(stamp);
            state.idle.insert(stamp, self.slot.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(limiter: &Arc<ConnectionLimiter>) -> usize {
        limiter.state().open.len()
    }

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room() {
        let limiter = Arc::new(ConnectionLimiter::new(3));
        let first = limiter.admit().unwrap();
        let second = limiter.admit().unwrap();
        let third = limiter.admit().unwrap();
        // The first has a request in progress, then goes idle again: the second is now the
        // longest idle.
        drop(first.begin(false).unwrap());
        let _fourth = limiter.admit().unwrap();
        assert!(second.evicted().is_cancelled());
        assert!(!first.evicted().is_cancelled() && !third.evicted().is_cancelled());
        assert_eq!(open(&limiter), 3);
        drop(second);
        assert_eq!(open(&limiter), 3, "an evicted slot was already given up");
        let _fifth = limiter.admit().unwrap();
        assert!(third.evicted().is_cancelled());
        assert_eq!(limiter.evicted.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_connection_with_a_request_in_progress_is_never_closed_to_make_room() {
        let limiter = Arc::new(ConnectionLimiter::new(2));
        let a = limiter.admit().unwrap();
        let b = limiter.admit().unwrap();
        let _busy_a = a.begin(false).unwrap();
        let _busy_b = b.begin(true).unwrap();
        assert!(limiter.admit().is_none());
        assert_eq!(limiter.refused_connections.load(Ordering::Relaxed), 1);
        assert!(!a.evicted().is_cancelled() && !b.evicted().is_cancelled());
    }

    #[test]
    fn requests_other_than_probes_leave_the_reserve_free() {
        // 16 slots: 2 kept for probes, 14 shared.
        let limiter = Arc::new(ConnectionLimiter::new(16));
        let slots: Vec<Slot> = (0..16).map(|_| limiter.admit().unwrap()).collect();
        let busy: Vec<RequestGuard<'_>> = slots[..14]
            .iter()
            .map(|s| s.begin(false).unwrap())
            .collect();
        assert!(slots[14].begin(false).is_none(), "beyond the shared slots");
        assert_eq!(limiter.refused_requests.load(Ordering::Relaxed), 1);
        let probe = slots[14].begin(true);
        assert!(probe.is_some(), "probes use the reserve");
        // A newcomer replaces the one idle connection left.
        let _newcomer = limiter.admit().unwrap();
        assert!(slots[15].evicted().is_cancelled());
        drop(busy);
        assert!(slots[0].begin(false).is_some(), "room again");
    }

    #[test]
    fn the_cap_is_at_least_two() {
        let limiter = Arc::new(ConnectionLimiter::new(0));
        assert_eq!((limiter.max, limiter.shared), (2, 1));
        assert_eq!(ConnectionLimiter::new(256).shared, 224);
    }
}

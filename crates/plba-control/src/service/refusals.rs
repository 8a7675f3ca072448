//! Refused requests: kept apart from the audit of changes so no flood of them can push a
//! change out of sight, counted for the metrics, and logged once per client per interval
//! instead of once each.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use plba_contracts::{MetricFamily, MetricKind, MetricValue};
use plba_util::Unpoisoned;
use serde_json::{Value, json};

/// Most refusals kept in memory for `/audit`.
const REFUSALS_KEPT: usize = 200;

/// How long the refusals of one client after its first are summed before one log line
/// says how many there were.
pub(crate) const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// Most clients logged apart in one interval; the rest are summed into one line.
const CLIENTS_LOGGED: usize = 256;

/// One refused request, as the audit and the log describe it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Refusal<'a> {
    /// The client's address, when the request came over the network.
    pub(crate) client: Option<IpAddr>,
    /// Who the request claimed to be (`anonymous`, `unknown-token`, a token's name).
    pub(crate) who: &'a str,
    /// The action refused.
    pub(crate) action: &'a str,
    /// The answer's status.
    pub(crate) status: u16,
    /// The answer's error code.
    pub(crate) code: &'static str,
}

/// The refusals: the newest for `/audit`, totals for `/metrics`, and the log's summary.
#[derive(Debug)]
pub(super) struct Refusals {
    recent: Mutex<VecDeque<Value>>,
    totals: Mutex<BTreeMap<&'static str, u64>>,
    window: Mutex<Window>,
}

/// The current summary interval: who was refused in it, and how often since their first.
#[derive(Debug)]
struct Window {
    started: Instant,
    clients: HashMap<String, u64>,
    others: u64,
}

impl Default for Refusals {
    fn default() -> Self {
        Self {
            recent: Mutex::default(),
            totals: Mutex::default(),
            window: Mutex::new(Window {
                started: Instant::now(),
                clients: HashMap::new(),
                others: 0,
            }),
        }
    }
}

impl Refusals {
    pub(super) fn record(&self, refusal: Refusal<'_>) {
        let client = refusal
            .client
            .map_or_else(|| "local".to_owned(), |ip| ip.to_string());
        {
            let mut recent = self.recent.lock_or_recover();
            if recent.len() == REFUSALS_KEPT {
                recent.pop_front();
            }
            recent.push_back(json!({
                "at": super::audit::now_seconds(),
                "client": client,
                "who": refusal.who,
                "action": refusal.action,
                "status": refusal.status,
            }));
        }
        *self
            .totals
            .lock_or_recover()
            .entry(refusal.code)
            .or_default() += 1;
        let mut window = self.window.lock_or_recover();
        window.roll(Instant::now());
        if let Some(count) = window.clients.get_mut(&client) {
            *count += 1;
        } else if window.clients.len() < CLIENTS_LOGGED {
            // The first refusal of a client in an interval is logged at once.
            tracing::warn!(
                target: "plba::audit",
                client = %client,
                who = refusal.who,
                action = refusal.action,
                status = refusal.status,
                "control request refused (more from this client in the next {} s are summed into one line)",
                SUMMARY_INTERVAL.as_secs(),
            );
            window.clients.insert(client, 0);
        } else {
            window.others += 1;
        }
    }

    /// Logs the summary of an interval that has ended (called periodically, so the last
    /// interval of a flood is summed up even when no refusal follows it).
    pub(super) fn flush(&self) {
        self.window.lock_or_recover().roll(Instant::now());
    }

    /// The newest refusals, newest first.
    pub(super) fn newest_first(&self) -> Vec<Value> {
        self.recent
            .lock_or_recover()
            .iter()
            .rev()
            .cloned()
            .collect()
    }

    /// `plba_control_requests_denied_total` by error code.
    pub(super) fn families(&self) -> Vec<MetricFamily> {
        let mut family = MetricFamily::new(
            "plba_control_requests_denied_total",
            "Control-plane requests refused before their action ran, by error code (unauthorized, forbidden, csrf, foreign_origin, too_many_failures, …).",
            MetricKind::Counter,
        );
        for (code, count) in self.totals.lock_or_recover().iter() {
            family = family.with_sample(&[("code", code)], MetricValue::Counter(*count));
        }
        vec![family]
    }
}

impl Window {
    /// Ends the interval when it is over: one line per client refused again after its
    /// first refusal, one for the clients past the cap.
    fn roll(&mut self, now: Instant) {
        if now.saturating_duration_since(self.started) < SUMMARY_INTERVAL {
            return;
        }
        let seconds = SUMMARY_INTERVAL.as_secs();
        for (client, more) in self.clients.drain() {
            if more > 0 {
                tracing::warn!(target: "plba::audit", client = %client, refused = more, "{more} more control requests refused from {client} in the last {seconds} s");
            }
        }
        if self.others > 0 {
            let others = self.others;
            tracing::warn!(target: "plba::audit", refused = others, "{others} control requests refused from other clients in the last {seconds} s");
        }
        self.others = 0;
        self.started = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(client: &str) -> Refusal<'static> {
        Refusal {
            client: client.parse().ok(),
            who: "unknown-token",
            action: "config",
            status: 401,
            code: "unauthorized",
        }
    }

    #[test]
    fn refusals_are_kept_newest_first_up_to_the_cap_and_counted() {
        let refusals = Refusals::default();
        for _ in 0..(REFUSALS_KEPT + 50) {
            refusals.record(refusal("192.0.2.1"));
        }
        assert_eq!(refusals.newest_first().len(), REFUSALS_KEPT);
        assert_eq!(refusals.newest_first()[0]["client"], "192.0.2.1");
        let totals = refusals.totals.lock_or_recover().clone();
        assert_eq!(
            totals.get("unauthorized"),
            Some(&(REFUSALS_KEPT as u64 + 50))
        );
    }

    #[test]
    fn a_client_is_logged_once_per_interval_and_summed_after() {
        let refusals = Refusals::default();
        for _ in 0..5 {
            refusals.record(refusal("192.0.2.1"));
        }
        refusals.record(refusal("192.0.2.2"));
        {
            let window = refusals.window.lock_or_recover();
            assert_eq!(window.clients.get("192.0.2.1"), Some(&4));
            assert_eq!(window.clients.get("192.0.2.2"), Some(&0));
        }
        let mut window = refusals.window.lock_or_recover();
        let later = window.started + SUMMARY_INTERVAL;
        window.roll(later);
        assert!(window.clients.is_empty());
    }
}

//! Whether a mail source is alive, not just running: when its last cycle (a scan, an IDLE
//! wait, a standby round without the lease) succeeded, and what it did.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plba_contracts::{MetricFamily, MetricKind, MetricValue, MetricsSource};
use plba_util::Unpoisoned;
use tokio::time::Instant;

use crate::in_flight::InFlight;

/// A source's liveness: "the trigger says active but has silently died" is the failure
/// users of mail triggers meet most, so a source that has not completed a cycle for
/// `stale_after` is reported unhealthy, whatever its worker status says.
///
/// Register it as a [`MetricsSource`] to export `plba_mail_source_cycles_total`,
/// `plba_mail_source_published_total`, `plba_mail_source_last_success_timestamp_seconds`,
/// `plba_mail_source_seconds_since_success` and `plba_mail_oldest_unprocessed_seconds`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use plba_mail::{InFlight, SourceLiveness};
///
/// let liveness = SourceLiveness::new(Duration::from_secs(60), Arc::new(InFlight::new()));
/// liveness.cycle_succeeded(3);
/// assert_eq!(liveness.stale(), None);
/// # });
/// ```
#[derive(Debug)]
pub struct SourceLiveness {
    stale_after: Duration,
    started: Instant,
    last_success: Mutex<Option<(Instant, SystemTime)>>,
    cycles: AtomicU64,
    published: AtomicU64,
    in_flight: Arc<InFlight>,
}

impl SourceLiveness {
    /// Unhealthy after `stale_after` without a successful cycle; `in_flight` tells the age
    /// of the oldest mail published and not done.
    pub fn new(stale_after: Duration, in_flight: Arc<InFlight>) -> Self {
        Self {
            stale_after,
            started: Instant::now(),
            last_success: Mutex::new(None),
            cycles: AtomicU64::new(0),
            published: AtomicU64::new(0),
            in_flight,
        }
    }

    /// A cycle ended well, having published `published` messages.
    pub fn cycle_succeeded(&self, published: usize) {
        *self.last_success.lock_or_recover() = Some((Instant::now(), SystemTime::now()));
        self.cycles.fetch_add(1, Ordering::Relaxed);
        self.published.fetch_add(
            u64::try_from(published).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Why the source counts as dead: no successful cycle for `stale_after` (since the
    /// last one, or since the start); `None` while it is alive.
    pub fn stale(&self) -> Option<String> {
        let last = self.last_success.lock_or_recover().map(|(at, _)| at);
        let quiet = last.unwrap_or(self.started).elapsed();
        if quiet < self.stale_after {
            return None;
        }
        Some(match last {
            Some(_) => format!("no successful scan for {}s", quiet.as_secs()),
            None => format!(
                "no successful scan since the start, {}s ago",
                quiet.as_secs()
            ),
        })
    }
}

impl MetricsSource for SourceLiveness {
    fn collect(&self) -> Vec<MetricFamily> {
        let last = *self.last_success.lock_or_recover();
        let counter = |name: &str, help: &str, value: &AtomicU64| {
            MetricFamily::new(name, help, MetricKind::Counter)
                .with_sample(&[], MetricValue::Counter(value.load(Ordering::Relaxed)))
        };
        let gauge = |name: &str, help: &str, value: f64| {
            MetricFamily::new(name, help, MetricKind::Gauge)
                .with_sample(&[], MetricValue::Gauge(value))
        };
        let last_timestamp = last
            .and_then(|(_, at)| at.duration_since(UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs_f64());
        let since = last.map_or(self.started, |(at, _)| at).elapsed();
        vec![
            counter(
                "plba_mail_source_cycles_total",
                "Mail source cycles (scans, IDLE waits, standby rounds) that succeeded",
                &self.cycles,
            ),
            counter(
                "plba_mail_source_published_total",
                "Mails the source published for handling",
                &self.published,
            ),
            gauge(
                "plba_mail_source_last_success_timestamp_seconds",
                "When the mail source last completed a cycle (Unix time; 0: never)",
                last_timestamp,
            ),
            gauge(
                "plba_mail_source_seconds_since_success",
                "Seconds since the mail source last completed a cycle (or since the start)",
                since.as_secs_f64(),
            ),
            gauge(
                "plba_mail_oldest_unprocessed_seconds",
                "Age of the oldest mail published by this process and not done yet",
                self.in_flight
                    .oldest_age()
                    .map_or(0.0, |age| age.as_secs_f64()),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_source_without_a_successful_cycle_goes_stale() {
        let liveness = SourceLiveness::new(Duration::from_secs(10), Arc::new(InFlight::new()));
        assert_eq!(liveness.stale(), None);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(
            liveness
                .stale()
                .is_some_and(|why| why.contains("since the start"))
        );
        liveness.cycle_succeeded(2);
        assert_eq!(liveness.stale(), None);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(
            liveness
                .stale()
                .is_some_and(|why| why.contains("no successful scan for 11s"))
        );
        let metrics = liveness.collect();
        assert!(
            metrics
                .iter()
                .any(|f| f.name == "plba_mail_source_published_total"
                    && f.samples[0].value == MetricValue::Counter(2))
        );
    }
}

//! A lock-free histogram of durations with fixed buckets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use plba_contracts::HistogramValue;

/// Upper bounds in seconds: from 1 ms to 60 s, the range of business task handlers.
const BOUNDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// Records durations into fixed buckets; one relaxed atomic add per bucket touched.
#[derive(Debug, Default)]
pub(crate) struct DurationHistogram {
    /// Non-cumulative counts per bucket; the last slot counts observations above every bound.
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl DurationHistogram {
    pub(crate) fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let slot = BOUNDS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(BOUNDS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn value(&self) -> HistogramValue {
        let mut cumulative = 0;
        let buckets = BOUNDS
            .iter()
            .zip(&self.buckets)
            .map(|(&bound, count)| {
                cumulative += count.load(Ordering::Relaxed);
                (bound, cumulative)
            })
            .collect();
        HistogramValue {
            buckets,
            sum: Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)).as_secs_f64(),
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let histogram = DurationHistogram::default();
        histogram.observe(Duration::from_micros(500));
        histogram.observe(Duration::from_millis(30));
        histogram.observe(Duration::from_secs(100));
        let value = histogram.value();
        assert_eq!(value.count, 3);
        assert_eq!(value.buckets[0], (0.001, 1));
        assert_eq!(value.buckets[5], (0.05, 2));
        assert_eq!(
            value.buckets.last(),
            Some(&(60.0, 2)),
            "the slow one is only in +Inf"
        );
        assert!((value.sum - 100.0305).abs() < 1e-6);
    }
}

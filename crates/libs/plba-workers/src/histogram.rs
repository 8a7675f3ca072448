//! A lock-free histogram of durations with fixed buckets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use plba_contracts::HistogramValue;
use plba_util::{CachePadded, SHARDS};

/// Upper bounds in seconds: from 1 ms to 60 s, the range of business task handlers.
const BOUNDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// Records durations into fixed buckets: two relaxed atomic adds per observation, in a
/// slot of the observing thread's own ([`plba_util::shard_index`]), so pool copies on
/// different threads never wait for each other's cache line.
#[derive(Debug, Default)]
pub(crate) struct DurationHistogram {
    slots: [CachePadded<Slot>; SHARDS],
}

#[derive(Debug, Default)]
struct Slot {
    /// Non-cumulative counts per bucket; the last counts observations above every bound.
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
}

impl DurationHistogram {
    pub(crate) fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let bucket = BOUNDS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(BOUNDS.len());
        let slot = &self.slots[plba_util::shard_index()];
        slot.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        slot.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(crate) fn value(&self) -> HistogramValue {
        let mut counts = [0_u64; BOUNDS.len() + 1];
        let mut sum_nanos = 0_u64;
        for slot in &self.slots {
            for (count, bucket) in counts.iter_mut().zip(&slot.buckets) {
                *count = count.wrapping_add(bucket.load(Ordering::Relaxed));
            }
            sum_nanos = sum_nanos.wrapping_add(slot.sum_nanos.load(Ordering::Relaxed));
        }
        let mut cumulative = 0_u64;
        let buckets = BOUNDS
            .iter()
            .zip(&counts)
            .map(|(&bound, count)| {
                cumulative += count;
                (bound, cumulative)
            })
            .collect();
        HistogramValue {
            buckets,
            sum: Duration::from_nanos(sum_nanos).as_secs_f64(),
            count: counts.iter().sum(),
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

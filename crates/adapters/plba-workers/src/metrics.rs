//! Counters a queue worker pool keeps, shared by its copies.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters of one [`crate::QueueWorkerPool`], shared by all its copies.
#[derive(Debug, Default)]
pub struct QueueWorkerMetrics {
    pub(crate) processed: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) released: AtomicU64,
    pub(crate) settle_errors: AtomicU64,
    pub(crate) in_flight: AtomicU64,
}

/// A point-in-time copy of [`QueueWorkerMetrics`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueWorkerMetricsSnapshot {
    /// Tasks handled successfully and acked.
    pub processed: u64,
    /// Handler failures of any kind (transient, permanent, panic).
    pub failed: u64,
    /// Failures requeued for another attempt.
    pub retried: u64,
    /// Tasks dead-lettered (permanent error or attempts exhausted).
    pub dead: u64,
    /// Handler panics caught (also counted in `failed`).
    pub panics: u64,
    /// Deliveries given back untried or unfinished on a forced stop.
    pub released: u64,
    /// Acks/nacks the queue refused (the backend will redeliver those tasks).
    pub settle_errors: u64,
    /// Tasks being handled now.
    pub in_flight: u64,
}

impl QueueWorkerMetrics {
    /// A copy of the counters.
    pub fn snapshot(&self) -> QueueWorkerMetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        QueueWorkerMetricsSnapshot {
            processed: get(&self.processed),
            failed: get(&self.failed),
            retried: get(&self.retried),
            dead: get(&self.dead),
            panics: get(&self.panics),
            released: get(&self.released),
            settle_errors: get(&self.settle_errors),
            in_flight: get(&self.in_flight),
        }
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn end(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

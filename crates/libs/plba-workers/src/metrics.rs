//! Counters a queue worker pool keeps, shared by its copies.

use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::Arc;

use plba_util::ShardedCounter;

use plba_contracts::{MetricFamily, MetricKind, MetricValue, MetricsSource};
use serde::Serialize;

use crate::histogram::DurationHistogram;

/// Live counters of one [`crate::QueueWorkerPool`], shared by all its copies.
#[derive(Debug, Default)]
pub struct QueueWorkerMetrics {
    /// Bumped per task by every copy: in slots of their own (see [`ShardedCounter`]).
    pub(crate) processed: ShardedCounter,
    pub(crate) failed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) released: AtomicU64,
    pub(crate) deferred: AtomicU64,
    pub(crate) settle_errors: AtomicU64,
    pub(crate) in_flight: ShardedCounter,
    pub(crate) duration: DurationHistogram,
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
    /// Deliveries put aside untried because their key's limit did not let them start yet.
    pub deferred: u64,
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
            processed: self.processed.count(),
            failed: get(&self.failed),
            retried: get(&self.retried),
            dead: get(&self.dead),
            panics: get(&self.panics),
            released: get(&self.released),
            deferred: get(&self.deferred),
            settle_errors: get(&self.settle_errors),
            in_flight: self.in_flight.count(),
        }
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn begin(&self) {
        self.in_flight.add(1);
    }

    pub(crate) fn end(&self) {
        self.in_flight.add(-1);
    }
}

/// Exposes one pool's [`QueueWorkerMetrics`] to `/metrics`, labelled by queue and worker pool.
pub(crate) struct PoolMetricsSource {
    pub(crate) queue: String,
    pub(crate) worker: String,
    pub(crate) metrics: Arc<QueueWorkerMetrics>,
}

impl MetricsSource for PoolMetricsSource {
    fn collect(&self) -> Vec<MetricFamily> {
        let labels = [
            ("queue", self.queue.as_str()),
            ("worker", self.worker.as_str()),
        ];
        let s = self.metrics.snapshot();
        let counter = |name: &str, help: &str, value: u64| {
            MetricFamily::new(name, help, MetricKind::Counter)
                .with_sample(&labels, MetricValue::Counter(value))
        };
        vec![
            counter(
                "plba_tasks_processed_total",
                "Tasks handled successfully and acked.",
                s.processed,
            ),
            counter(
                "plba_tasks_failed_total",
                "Handler failures (transient, permanent or panic).",
                s.failed,
            ),
            counter(
                "plba_tasks_retried_total",
                "Failed tasks requeued for another attempt.",
                s.retried,
            ),
            counter("plba_tasks_dead_total", "Tasks dead-lettered.", s.dead),
            counter(
                "plba_tasks_deferred_total",
                "Tasks put aside untried because their key's limit did not let them start yet.",
                s.deferred,
            ),
            counter("plba_task_panics_total", "Handler panics caught.", s.panics),
            MetricFamily::new(
                "plba_tasks_in_flight",
                "Tasks being handled now.",
                MetricKind::Gauge,
            )
            .with_sample(&labels, MetricValue::Gauge(s.in_flight as f64)),
            MetricFamily::new(
                "plba_handler_duration_seconds",
                "Time spent in the task handler.",
                MetricKind::Histogram,
            )
            .with_sample(
                &labels,
                MetricValue::Histogram(self.metrics.duration.value()),
            ),
        ]
    }
}

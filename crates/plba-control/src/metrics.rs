//! `/metrics`: the runtime's own metrics plus every registered source, as OpenMetrics text.

use std::collections::BTreeMap;

use plba_contracts::{HealthState, MetricFamily, MetricKind, MetricValue};
use plba_core::{RuntimeManager, RuntimeState};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// The version in `plba_build_info`.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Collects the runtime's metrics (state, uptime, queues, worker restarts and copies, health
/// per contributor, build info) and every module's `MetricsSource`, and renders them in the
/// OpenMetrics text format (which Prometheus scrapes).
pub async fn render_metrics(runtime: &RuntimeManager) -> String {
    render_metrics_with(runtime, Vec::new()).await
}

/// [`render_metrics`] plus `extra` families (the control plane's own connection metrics).
pub(crate) async fn render_metrics_with(
    runtime: &RuntimeManager,
    extra: Vec<MetricFamily>,
) -> String {
    let mut families = runtime_families(runtime).await;
    families.extend(extra);
    for source in runtime.metrics_sources() {
        families.extend(source.collect());
    }
    encode(merge(families))
}

async fn runtime_families(runtime: &RuntimeManager) -> Vec<MetricFamily> {
    let status = runtime.status().await;
    let health = runtime.health().await;
    let gauge = |name: &str, help: &str| MetricFamily::new(name, help, MetricKind::Gauge);
    let counter = |name: &str, help: &str| MetricFamily::new(name, help, MetricKind::Counter);

    let mut build = gauge("plba_build_info", "PLBA build information (always 1).");
    build = build.with_sample(&[("version", VERSION)], MetricValue::Gauge(1.0));

    let mut state = gauge(
        "plba_runtime_state",
        "Runtime lifecycle state (1 for the current state).",
    );
    for candidate in [
        RuntimeState::Created,
        RuntimeState::Starting,
        RuntimeState::Running,
        RuntimeState::Stopping,
        RuntimeState::Stopped,
    ] {
        let value = if candidate == status.state { 1.0 } else { 0.0 };
        state = state.with_sample(&[("state", candidate.as_str())], MetricValue::Gauge(value));
    }
    let uptime = gauge(
        "plba_runtime_uptime_seconds",
        "Time since the workers were last started.",
    )
    .with_sample(
        &[],
        MetricValue::Gauge(status.uptime.map_or(0.0, |u| u.as_secs_f64())),
    );

    let mut depth = gauge("plba_queue_depth", "Tasks waiting in the queue.");
    let mut in_flight = gauge(
        "plba_queue_in_flight",
        "Tasks delivered and not yet settled.",
    );
    let mut delayed = gauge("plba_queue_delayed", "Tasks waiting for a retry delay.");
    let mut dead = gauge("plba_queue_dead_letters", "Tasks in the dead-letter place.");
    let mut published = counter("plba_queue_published_total", "Tasks accepted by the queue.");
    let mut acked = counter("plba_queue_acked_total", "Deliveries acked.");
    let mut retried = counter("plba_queue_retried_total", "Deliveries requeued for retry.");
    for queue in &status.queues {
        let Some(stats) = queue.stats else { continue };
        let labels = [("queue", queue.name.as_str())];
        depth = depth.with_sample(&labels, MetricValue::Gauge(stats.depth as f64));
        in_flight = in_flight.with_sample(&labels, MetricValue::Gauge(stats.in_flight as f64));
        delayed = delayed.with_sample(&labels, MetricValue::Gauge(stats.delayed as f64));
        dead = dead.with_sample(&labels, MetricValue::Gauge(stats.dead as f64));
        published = published.with_sample(&labels, MetricValue::Counter(stats.published));
        acked = acked.with_sample(&labels, MetricValue::Counter(stats.acked));
        retried = retried.with_sample(&labels, MetricValue::Counter(stats.retried));
    }

    let mut restarts = counter(
        "plba_worker_restarts_total",
        "Worker copy restarts after a failure.",
    );
    let mut busy = gauge(
        "plba_worker_copies_busy",
        "Worker copies working on something now.",
    );
    for pool in &status.workers {
        let labels = [("worker", pool.name.as_str())];
        let total: u64 = pool.copies.iter().map(|c| c.restarts).sum();
        let working = pool
            .copies
            .iter()
            .filter(|c| c.status == plba_contracts::WorkerStatus::Busy)
            .count();
        restarts = restarts.with_sample(&labels, MetricValue::Counter(total));
        busy = busy.with_sample(&labels, MetricValue::Gauge(working as f64));
    }

    let mut health_state = gauge(
        "plba_health_state",
        "Health of each contributor (1 for its current state), and of the whole application as contributor \"application\".",
    );
    let states = [
        HealthState::Ok,
        HealthState::Degraded,
        HealthState::Unhealthy,
    ];
    let add_health = |family: MetricFamily, name: &str, current: HealthState| {
        states.iter().fold(family, |family, &candidate| {
            let value = if candidate == current { 1.0 } else { 0.0 };
            family.with_sample(
                &[("contributor", name), ("state", candidate.as_str())],
                MetricValue::Gauge(value),
            )
        })
    };
    health_state = add_health(health_state, "application", health.state);
    for contributor in &health.contributors {
        health_state = add_health(health_state, &contributor.name, contributor.state);
    }

    vec![
        build,
        state,
        uptime,
        depth,
        in_flight,
        delayed,
        dead,
        published,
        acked,
        retried,
        restarts,
        busy,
        health_state,
    ]
}

/// Families with the same name from several sources become one family.
fn merge(families: Vec<MetricFamily>) -> Vec<MetricFamily> {
    let mut merged: BTreeMap<String, MetricFamily> = BTreeMap::new();
    for family in families {
        match merged.get_mut(&family.name) {
            Some(existing) if existing.kind == family.kind => {
                existing.samples.extend(family.samples);
            }
            Some(_) => {
                tracing::warn!(metric = %family.name, "two metric sources disagree on the kind of a metric; keeping the first");
            }
            None => {
                merged.insert(family.name.clone(), family);
            }
        }
    }
    merged.into_values().collect()
}

/// A scrape's families, ready for prometheus-client's encoder.
#[derive(Debug)]
struct Snapshot(Vec<MetricFamily>);

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        for family in &self.0 {
            let (name, metric_type) = match family.kind {
                // The encoder appends `_total` to counters itself.
                MetricKind::Counter => {
                    (family.name.trim_end_matches("_total"), MetricType::Counter)
                }
                MetricKind::Gauge => (family.name.as_str(), MetricType::Gauge),
                MetricKind::Histogram => (family.name.as_str(), MetricType::Histogram),
            };
            let mut metric = encoder.encode_descriptor(name, &family.help, None, metric_type)?;
            for sample in &family.samples {
                if sample.labels.is_empty() {
                    // A family encoder would write an empty `{}`, which some parsers refuse.
                    encode_value(&mut metric, &sample.value)?;
                } else {
                    let labels: Vec<(String, String)> = sample.labels.clone();
                    encode_value(&mut metric.encode_family(&labels)?, &sample.value)?;
                }
            }
        }
        Ok(())
    }
}

fn encode_value(
    encoder: &mut MetricEncoder<'_>,
    value: &MetricValue,
) -> Result<(), std::fmt::Error> {
    match value {
        MetricValue::Counter(v) => encoder.encode_counter::<NoLabelSet, _, u64>(v, None),
        MetricValue::Gauge(v) => encoder.encode_gauge(v),
        MetricValue::Histogram(h) => {
            let buckets = per_bucket_counts(&h.buckets, h.count);
            encoder.encode_histogram::<NoLabelSet>(h.sum, h.count, &buckets, None)
        }
    }
}

/// The contract's buckets are cumulative (Prometheus' own convention); prometheus-client
/// wants per-bucket counts and accumulates them itself. Adds the `+Inf` bucket.
fn per_bucket_counts(cumulative: &[(f64, u64)], count: u64) -> Vec<(f64, u64)> {
    let mut previous = 0;
    let mut buckets: Vec<(f64, u64)> = cumulative
        .iter()
        .map(|&(bound, total)| {
            let in_bucket = total.saturating_sub(previous);
            previous = total;
            (bound, in_bucket)
        })
        .collect();
    if buckets.last().is_none_or(|&(bound, _)| bound.is_finite()) {
        buckets.push((f64::INFINITY, count.saturating_sub(previous)));
    }
    buckets
}

fn encode(families: Vec<MetricFamily>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot(families)));
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        tracing::error!(%error, "cannot encode metrics");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_buckets_become_per_bucket_counts_with_inf() {
        let buckets = per_bucket_counts(&[(0.1, 2), (1.0, 5), (10.0, 5)], 7);
        assert_eq!(
            buckets,
            vec![(0.1, 2), (1.0, 3), (10.0, 0), (f64::INFINITY, 2)]
        );
    }
}

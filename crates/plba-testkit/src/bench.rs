//! Small helpers the bench binaries share: knobs from the environment, medians, tables.

/// `name` from the environment as a number, or `default`.
pub fn env_u64(name: &str, default: u64) -> Result<u64, std::num::ParseIntError> {
    std::env::var(name).map_or(Ok(default), |v| v.parse())
}

/// The median (upper middle for an even count); `NaN` for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// One Markdown table row: `| name | median | min | max | ratio to baseline |`.
pub fn table_row(name: &str, values: &[f64], baseline_median: f64) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    let median = median(values);
    format!(
        "| {name} | {median:.0} | {min:.0} | {max:.0} | {:.2} |",
        median / baseline_median
    )
}

/// Counts finished tasks and wakes the waiter when the last of `total` is done.
#[derive(Debug)]
pub struct Finish {
    seen: std::sync::atomic::AtomicU64,
    total: u64,
    done: tokio::sync::Notify,
}

impl Finish {
    /// A finish line after `total` tasks.
    pub fn new(total: u64) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            seen: std::sync::atomic::AtomicU64::new(0),
            total,
            done: tokio::sync::Notify::new(),
        })
    }

    /// One more task done.
    pub fn count(&self) {
        use std::sync::atomic::Ordering;
        if self.seen.fetch_add(1, Ordering::Relaxed) + 1 == self.total {
            self.done.notify_one();
        }
    }

    /// Waits until `total` tasks were counted.
    pub async fn wait(&self) {
        self.done.notified().await;
    }
}

/// A handler that does nothing but count on a [`Finish`]: what the throughput benches run
/// to measure the path, not the work.
#[derive(Debug)]
pub struct CountingNoop(pub std::sync::Arc<Finish>);

#[async_trait::async_trait]
impl plba_contracts::TaskHandler for CountingNoop {
    async fn handle(&self, _task: &plba_contracts::Task) -> Result<(), plba_contracts::TaskError> {
        self.0.count();
        Ok(())
    }
}

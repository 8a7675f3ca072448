//! The registry of health contributors and the concurrent check.

use plba_util::UnpoisonedRw;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use plba_contracts::{HealthContributor, HealthOptions, HealthReport, HealthState};
use serde::Serialize;
use tokio::time::Instant;

use crate::aggregate::aggregate;

/// Why a contributor could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HealthError {
    /// The name is taken.
    #[error("health contributor {0:?} is already registered")]
    Duplicate(String),
}

#[derive(Debug)]
struct Entry {
    name: String,
    contributor: Arc<dyn HealthContributor>,
    options: HealthOptions,
}

/// One contributor's answer within a [`HealthSnapshot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContributorHealth {
    /// The contributor's name.
    pub name: String,
    /// Its state.
    pub state: HealthState,
    /// Why, unless ok.
    pub reason: Option<String>,
    /// Whether it is critical.
    pub critical: bool,
    /// How long the check took.
    pub latency: Duration,
}

/// The result of checking every contributor once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthSnapshot {
    /// The aggregated state.
    pub state: HealthState,
    /// Each contributor, in registration order.
    pub contributors: Vec<ContributorHealth>,
    /// When the check ran.
    pub checked_at: SystemTime,
}

/// Health contributors with their options; checks them all concurrently, each under its own
/// timeout.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use plba_contracts::{async_trait, HealthContributor, HealthOptions, HealthReport, HealthState};
/// use plba_health::HealthRegistry;
///
/// struct Db;
/// #[async_trait]
/// impl HealthContributor for Db {
///     async fn check(&self) -> HealthReport { HealthReport::degraded("slow") }
/// }
///
/// let registry = HealthRegistry::new();
/// registry.register("db", Arc::new(Db), HealthOptions::critical()).unwrap();
/// let snapshot = registry.check().await;
/// assert_eq!(snapshot.state, HealthState::Degraded);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct HealthRegistry {
    entries: RwLock<Vec<Arc<Entry>>>,
}

impl HealthRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a contributor under a unique name.
    pub fn register(
        &self,
        name: &str,
        contributor: Arc<dyn HealthContributor>,
        options: HealthOptions,
    ) -> Result<(), HealthError> {
        let mut entries = self.entries.write_or_recover();
        if entries.iter().any(|e| e.name == name) {
            return Err(HealthError::Duplicate(name.to_owned()));
        }
        entries.push(Arc::new(Entry {
            name: name.to_owned(),
            contributor,
            options,
        }));
        Ok(())
    }

    /// Removes a contributor; returns whether it was there.
    pub fn unregister(&self, name: &str) -> bool {
        let mut entries = self.entries.write_or_recover();
        let before = entries.len();
        entries.retain(|e| e.name != name);
        entries.len() != before
    }

    /// The registered names, in order.
    pub fn names(&self) -> Vec<String> {
        let entries = self.entries.read_or_recover();
        entries.iter().map(|e| e.name.clone()).collect()
    }

    /// Checks every contributor concurrently. A check that exceeds its timeout or panics is
    /// reported unhealthy with that reason; the others are not held up.
    pub async fn check(&self) -> HealthSnapshot {
        let entries: Vec<Arc<Entry>> = {
            let guard = self.entries.read_or_recover();
            guard.clone()
        };
        let checks = entries.iter().map(|entry| check_one(entry));
        let contributors = futures_util::future::join_all(checks).await;
        HealthSnapshot {
            state: aggregate(contributors.iter().map(|c| (c.state, c.critical))),
            contributors,
            checked_at: SystemTime::now(),
        }
    }
}

async fn check_one(entry: &Entry) -> ContributorHealth {
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        entry.options.timeout,
        AssertUnwindSafe(entry.contributor.check()).catch_unwind(),
    )
    .await;
    let report = match outcome {
        Ok(Ok(report)) => report,
        Ok(Err(_panic)) => {
            tracing::error!(contributor = %entry.name, "health check panicked");
            HealthReport::unhealthy("health check panicked")
        }
        Err(_elapsed) => HealthReport::unhealthy(format!(
            "health check timed out after {:?}",
            entry.options.timeout
        )),
    };
    ContributorHealth {
        name: entry.name.clone(),
        state: report.state(),
        reason: report.reason().map(str::to_owned),
        critical: entry.options.critical,
        latency: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use std::future::pending;

    use plba_contracts::async_trait;

    use super::*;

    struct Fixed(HealthReport);

    #[async_trait]
    impl HealthContributor for Fixed {
        async fn check(&self) -> HealthReport {
            self.0.clone()
        }
    }

    struct NeverAnswers;

    #[async_trait]
    impl HealthContributor for NeverAnswers {
        async fn check(&self) -> HealthReport {
            pending().await
        }
    }

    struct Panics;

    #[async_trait]
    impl HealthContributor for Panics {
        async fn check(&self) -> HealthReport {
            panic!("boom")
        }
    }

    #[tokio::test]
    async fn a_slow_check_times_out_as_unhealthy_without_blocking_the_others() {
        let registry = HealthRegistry::new();
        registry
            .register(
                "fast",
                Arc::new(Fixed(HealthReport::ok())),
                HealthOptions::critical(),
            )
            .unwrap();
        registry
            .register(
                "stuck",
                Arc::new(NeverAnswers),
                HealthOptions::non_critical().with_timeout(Duration::from_millis(50)),
            )
            .unwrap();
        // If timeouts did not work the check would never return; the outer deadline turns
        // that into a failure instead of a hung test.
        let snapshot = tokio::time::timeout(Duration::from_secs(10), registry.check())
            .await
            .expect("health check must finish despite a stuck contributor");
        let fast = &snapshot.contributors[0];
        let stuck = &snapshot.contributors[1];
        assert_eq!(fast.state, HealthState::Ok);
        assert!(
            fast.latency < Duration::from_millis(50),
            "fast check waited for the slow one"
        );
        assert_eq!(stuck.state, HealthState::Unhealthy);
        assert!(stuck.reason.as_deref().unwrap().contains("timed out"));
        assert_eq!(
            snapshot.state,
            HealthState::Degraded,
            "non-critical unhealthy degrades"
        );
    }

    #[tokio::test]
    async fn a_panicking_check_is_unhealthy() {
        let registry = HealthRegistry::new();
        registry
            .register("p", Arc::new(Panics), HealthOptions::critical())
            .unwrap();
        let snapshot = registry.check().await;
        assert_eq!(snapshot.state, HealthState::Unhealthy);
        assert_eq!(
            snapshot.contributors[0].reason.as_deref(),
            Some("health check panicked")
        );
    }

    #[tokio::test]
    async fn registry_aggregates_critical_and_non_critical() {
        let registry = HealthRegistry::new();
        registry
            .register(
                "a",
                Arc::new(Fixed(HealthReport::ok())),
                HealthOptions::critical(),
            )
            .unwrap();
        registry
            .register(
                "b",
                Arc::new(Fixed(HealthReport::unhealthy("down"))),
                HealthOptions::non_critical(),
            )
            .unwrap();
        assert_eq!(registry.check().await.state, HealthState::Degraded);
        registry
            .register(
                "c",
                Arc::new(Fixed(HealthReport::unhealthy("down"))),
                HealthOptions::critical(),
            )
            .unwrap();
        assert_eq!(registry.check().await.state, HealthState::Unhealthy);
        assert!(registry.unregister("c"));
        assert_eq!(registry.check().await.state, HealthState::Degraded);
    }

    #[test]
    fn duplicate_names_are_refused() {
        let registry = HealthRegistry::new();
        registry
            .register(
                "a",
                Arc::new(Fixed(HealthReport::ok())),
                HealthOptions::critical(),
            )
            .unwrap();
        let err = registry
            .register(
                "a",
                Arc::new(Fixed(HealthReport::ok())),
                HealthOptions::critical(),
            )
            .unwrap_err();
        assert_eq!(err, HealthError::Duplicate("a".into()));
    }
}

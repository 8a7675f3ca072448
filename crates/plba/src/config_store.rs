//! Where the configuration database meets the runtime: its layer read before the
//! configuration is loaded, the follower that applies its changes, and what it says in
//! health and the metrics.

use std::sync::Arc;

use plba_config::{ConfigSource, ConfigurationManager};
use plba_config_store::{ConfigStoreError, FollowState, Startup, StoreFollower};
use plba_contracts::{
    HealthContributor, HealthOptions, HealthReport, MetricFamily, MetricKind, MetricValue,
    MetricsSource,
};
use plba_control::ApiError;

use crate::PlbaError;

/// Reads the store's values when `source` names a configuration database
/// (`platform.config_store`), for the application `module`.
pub(crate) async fn read_at_start(
    source: &ConfigSource,
    module: &str,
) -> Result<Option<Startup>, PlbaError> {
    let base = source.load()?;
    let Some(config) = base.platform().config_store.clone() else {
        return Ok(None);
    };
    let application = config
        .application
        .clone()
        .unwrap_or_else(|| module.to_owned());
    Ok(Some(Startup::read(&config, &application).await?))
}

/// Follows the store for `manager`'s application: health says `degraded` while the
/// database is away or its values are refused, and the metrics carry the revision.
pub(crate) fn follower(
    startup: Startup,
    manager: Arc<ConfigurationManager>,
    runtime: &plba_core::RuntimeManager,
) -> Arc<StoreFollower> {
    let follower = StoreFollower::new(startup, manager);
    // The name is the platform's own: no module registered before this can hold it.
    let _ = runtime.health_registry().register(
        "config_store",
        Arc::new(StoreHealth(Arc::clone(&follower))),
        HealthOptions {
            critical: false,
            ..HealthOptions::default()
        },
    );
    runtime.add_metrics_source(Arc::new(StoreMetrics(Arc::clone(&follower))));
    follower
}

/// The follower as the control plane sees it: `/status`, `/config/history` and an admin's
/// changes, checked as this instance checks a reload.
#[derive(Debug)]
pub(crate) struct StoreAccess(pub(crate) Arc<StoreFollower>);

/// One history entry as JSON, for the command line's `--json` and the control plane alike.
pub(crate) fn history_entry(entry: &plba_config_store::HistoryEntry) -> serde_json::Value {
    serde_json::json!({
        "revision": entry.revision,
        "key": entry.key,
        "old_value": entry.old_value,
        "new_value": entry.new_value,
        "actor": entry.actor,
        "at": rfc3339(entry.at_ms),
        "at_ms": entry.at_ms,
        "comment": entry.comment,
    })
}

/// Unix milliseconds as an RFC 3339 time.
pub(crate) fn rfc3339(at_ms: i64) -> String {
    // RFC 3339 ends with the year 9999; a time past it (written by hand) is shown as such.
    const LAST_MS: u64 = 253_402_300_799_999;
    let ms = u64::try_from(at_ms).unwrap_or(0);
    if ms > LAST_MS {
        return format!("(after the year 9999: {at_ms} ms)");
    }
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A store's error as the control plane answers it.
fn api_error(error: ConfigStoreError) -> ApiError {
    let text = plba_util::error_chain(&error);
    match error {
        ConfigStoreError::Refused(why) => ApiError::InvalidConfiguration(why),
        ConfigStoreError::BadKey(_)
        | ConfigStoreError::TooLarge { .. }
        | ConfigStoreError::NotSet { .. }
        | ConfigStoreError::NoRevision(_) => ApiError::BadRequest(text),
        ConfigStoreError::Moved { .. } => ApiError::Conflict(text),
        _ => ApiError::ConfigStoreUnavailable(text),
    }
}

#[plba_contracts::async_trait]
impl plba_control::StoredConfig for StoreAccess {
    fn status(&self) -> serde_json::Value {
        serde_json::to_value(self.0.status()).unwrap_or_default()
    }

    async fn history(
        &self,
        key: Option<String>,
        limit: usize,
    ) -> Result<serde_json::Value, ApiError> {
        let entries = self
            .0
            .history(key.as_deref(), limit)
            .await
            .map_err(api_error)?;
        Ok(entries.iter().map(history_entry).collect())
    }

    async fn change(
        &self,
        key: String,
        value: Option<String>,
        actor: String,
        comment: Option<String>,
    ) -> Result<serde_json::Value, ApiError> {
        let committed = self
            .0
            .change(&key, value, &actor, comment.as_deref())
            .await
            .map_err(api_error)?;
        let status = self.0.status();
        Ok(serde_json::json!({
            "revision": committed.revision,
            "changed": !committed.changes.is_empty(),
            "key": key,
            "applied_here": status.revision == committed.revision,
            "restart_required": status.restart_required,
        }))
    }
}

struct StoreHealth(Arc<StoreFollower>);

#[plba_contracts::async_trait]
impl HealthContributor for StoreHealth {
    async fn check(&self) -> HealthReport {
        let status = self.0.status();
        match status.state {
            FollowState::Current => HealthReport::ok(),
            FollowState::Stale => HealthReport::degraded(format!(
                "the configuration database cannot be read (the values of revision {} stay in force): {}",
                status.revision,
                status.problem.unwrap_or_default()
            )),
            FollowState::Refused => HealthReport::degraded(format!(
                "the configuration database's values are refused (the last good ones stay in force): {}",
                status.problem.unwrap_or_default()
            )),
        }
    }
}

struct StoreMetrics(Arc<StoreFollower>);

impl MetricsSource for StoreMetrics {
    fn collect(&self) -> Vec<MetricFamily> {
        let status = self.0.status();
        #[allow(clippy::cast_precision_loss)] // revisions stay far below 2^53
        let revision = |value: u64| MetricValue::Gauge(value as f64);
        let states = [
            FollowState::Current,
            FollowState::Stale,
            FollowState::Refused,
        ];
        vec![
            MetricFamily::new(
                "plba_config_store_revision",
                "The configuration database's revision in force",
                MetricKind::Gauge,
            )
            .with_sample(&[], revision(status.revision)),
            MetricFamily::new(
                "plba_config_store_latest_revision",
                "The latest revision read from the configuration database",
                MetricKind::Gauge,
            )
            .with_sample(&[], revision(status.latest_revision.unwrap_or(0))),
            states.into_iter().fold(
                MetricFamily::new(
                    "plba_config_store_state",
                    "1 for the state the configuration database's values are in: current, stale (the database is away) or refused",
                    MetricKind::Gauge,
                ),
                |family, state| {
                    let on = if state == status.state { 1.0 } else { 0.0 };
                    family.with_sample(&[("state", state.as_str())], MetricValue::Gauge(on))
                },
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn any_time_in_the_history_is_shown_without_a_panic() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(-5), "1970-01-01T00:00:00Z");
        assert!(rfc3339(253_402_300_799_999).starts_with("9999-12-31"));
        assert!(rfc3339(i64::MAX).contains("after"));
    }
}

//! The configuration as the control plane shows and changes it.

use serde_json::json;

use super::ControlPlaneService;
use crate::api_error::ApiError;
use crate::reply::Reply;

/// The most history entries one request lists.
const MAX_HISTORY: usize = 200;

/// The deepest a key path is followed for `values`: a deeper map is one value.
const MAX_LAYER_DEPTH: usize = 8;

/// Calls `visit` with the key path and value of every value of `config` that is not a map
/// (a list is one value), as the configuration's dotted paths write it.
fn leaves(
    config: &serde_json::Value,
    path: &str,
    visit: &mut impl FnMut(&str, &serde_json::Value),
) {
    match config {
        serde_json::Value::Object(map)
            if !map.is_empty() && path.split('.').count() < MAX_LAYER_DEPTH =>
        {
            for (key, value) in map {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                leaves(value, &child, visit);
            }
        }
        _ if !path.is_empty() => visit(path, config),
        _ => {}
    }
}

impl ControlPlaneService {
    /// `GET /config`: the effective configuration, secrets redacted, with its generation,
    /// and every value with the layer it comes from (`values`: key, value, origin).
    pub(super) fn effective_config(&self) -> Result<Reply, ApiError> {
        let current = self.configuration()?.current();
        let config = current.redacted();
        let mut values = Vec::new();
        leaves(&config, "", &mut |path, value| {
            values.push(json!({
                "key": path,
                "value": value,
                "origin": current.origin_of(path),
            }));
        });
        Ok(Reply::ok(json!({
            "generation": current.generation(),
            "restart_required": current.restart_required(),
            "config": config,
            "values": values,
            "config_store": self.stored_config.as_ref().map(|stored| stored.status()),
        })))
    }

    /// `GET /config/history`: the configuration database's changes, newest first.
    pub(super) async fn config_history(
        &self,
        key: Option<String>,
        limit: usize,
    ) -> Result<Reply, ApiError> {
        let history = self
            .stored()?
            .history(key, limit.clamp(1, MAX_HISTORY))
            .await?;
        Ok(Reply::ok(json!({ "history": history })))
    }

    /// `POST /config/values`: an admin sets or removes a value in the configuration
    /// database, checked as a reload is before anything is committed; the history names
    /// the caller.
    pub(super) async fn set_config_value(
        &self,
        caller: &crate::auth::Caller,
        key: &str,
        value: Option<String>,
        comment: Option<String>,
    ) -> Result<Reply, ApiError> {
        let actor = format!("{} (control plane)", caller.audit_name());
        let comment = comment.filter(|c| !c.trim().is_empty());
        let committed = self
            .stored()?
            .change(key.to_owned(), value, actor, comment)
            .await?;
        Ok(Reply::ok(committed))
    }

    fn stored(&self) -> Result<&std::sync::Arc<dyn crate::StoredConfig>, ApiError> {
        self.stored_config.as_ref().ok_or_else(|| {
            ApiError::ConfigStoreUnavailable(
                "no configuration database is configured (platform.config_store)".to_owned(),
            )
        })
    }

    /// `POST /actions/log-level?level=…`: a level or a filter, validated like `log.level`
    /// in a file, kept until the process ends.
    pub(super) async fn set_log_level(&self, level: &str) -> Result<Reply, ApiError> {
        let snapshot = self
            .configuration()?
            .set_async(format!("log.level={level}"))
            .await
            .map_err(|error| ApiError::InvalidConfiguration(plba_util::error_chain(&error)))?;
        Ok(Reply::ok(json!({
            "log_level": snapshot.log().level,
            "generation": snapshot.generation(),
        })))
    }
}

//! The configuration as the control plane shows and changes it.

use serde_json::json;

use super::ControlPlaneService;
use crate::api_error::ApiError;
use crate::reply::Reply;

impl ControlPlaneService {
    /// `GET /config`: the effective configuration, secrets redacted, with its generation.
    pub(super) fn effective_config(&self) -> Result<Reply, ApiError> {
        let current = self.configuration()?.current();
        Ok(Reply::ok(json!({
            "generation": current.generation(),
            "restart_required": current.restart_required(),
            "config": current.redacted(),
        })))
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

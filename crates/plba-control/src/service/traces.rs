//! The recent task traces.

use serde_json::json;

use super::ControlPlaneService;
use crate::api_error::ApiError;
use crate::reply::Reply;

impl ControlPlaneService {
    /// `GET /traces`: the most recent, newest first.
    pub(super) fn traces(&self, limit: usize) -> Reply {
        match &self.traces {
            Some(traces) => Reply::ok(json!({ "traces": traces.recent(limit) })),
            None => Reply::ok(json!({ "traces": [] })),
        }
    }

    /// `GET /traces/{id}`: one, by task id or trace id.
    pub(super) fn trace(&self, id: &str) -> Result<Reply, ApiError> {
        self.traces
            .as_ref()
            .and_then(|t| t.get(id))
            .map(|trace| Reply::ok(json!(trace)))
            .ok_or_else(|| ApiError::NotFound(format!("no recent trace for {id:?}")))
    }
}

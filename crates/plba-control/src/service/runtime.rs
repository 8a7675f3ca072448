//! The runtime as a whole: its status and metrics, and the lifecycle actions.

use plba_core::{CoreError, RuntimeState};
use serde_json::json;

use super::ControlPlaneService;
use crate::api_error::ApiError;
use crate::metrics::render_metrics_with;
use crate::reply::{Reply, ReplyBody};

/// Content type of `/metrics` (prometheus-client writes OpenMetrics text).
const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl ControlPlaneService {
    /// `GET /status`: runtime, workers, queues and schedules.
    pub(super) async fn status(&self) -> Reply {
        let status = self.runtime.status().await;
        let generation = self
            .configuration
            .as_ref()
            .map(|c| c.current().generation());
        Reply::ok(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "state": status.state,
            "uptime_seconds": status.uptime.map(|u| u.as_secs_f64()),
            "modules": self.runtime.modules(),
            "config_generation": generation,
            "config_store": self.stored_config.as_ref().map(|stored| stored.status()),
            "workers": status.workers,
            "queues": status.queues,
            "schedules": status.schedules,
        }))
    }

    /// `GET /metrics`: OpenMetrics text.
    pub(super) async fn metrics(&self) -> Reply {
        Reply {
            status: 200,
            body: ReplyBody::Text {
                content_type: METRICS_CONTENT_TYPE,
                text: render_metrics_with(
                    &self.runtime,
                    [
                        self.connections.families(),
                        self.refusals.families(),
                        self.sign_in_counts.families(self.config.protect_reads),
                    ]
                    .concat(),
                )
                .await,
            },
            session: None,
        }
    }

    /// `POST /actions/stop`: the workers stop; the process and the control plane stay up.
    pub(super) async fn stop(&self) -> Reply {
        let report = self.runtime.stop().await;
        Reply::ok(json!({ "state": self.runtime.state(), "stop": report }))
    }

    /// `POST /actions/start`.
    pub(super) async fn start(&self) -> Result<Reply, ApiError> {
        match self.runtime.start().await {
            Ok(()) => Ok(Reply::ok(json!({ "state": self.runtime.state() }))),
            Err(CoreError::InvalidState { state, .. }) => Err(ApiError::Conflict(format!(
                "cannot start while the runtime is {state}"
            ))),
            Err(error) => Err(ApiError::StartFailed(plba_util::error_chain(&error))),
        }
    }

    /// `POST /actions/reload`: validated first; an invalid file keeps the running
    /// configuration.
    pub(super) async fn reload(&self) -> Result<Reply, ApiError> {
        let snapshot = self
            .configuration()?
            .reload_async()
            .await
            .map_err(|error| ApiError::InvalidConfiguration(plba_util::error_chain(&error)))?;
        Ok(Reply::ok(json!({
            "reloaded": true,
            "generation": snapshot.generation(),
            "restart_required": snapshot.restart_required(),
        })))
    }

    /// `POST /actions/shutdown`: a graceful stop, then the process exits.
    pub(super) fn shutdown(&self) -> Reply {
        self.runtime.request_shutdown();
        let note = if self.runtime.state() == RuntimeState::Running {
            "stopping gracefully, then exiting"
        } else {
            "exiting"
        };
        Reply::json(202, json!({ "shutting_down": true, "note": note }))
    }
}

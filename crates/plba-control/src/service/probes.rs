//! The probes and aggregated health: what an orchestrator and a person ask first.

use serde_json::{Value, json};

use super::ControlPlaneService;
use crate::reply::Reply;

impl ControlPlaneService {
    /// `GET /health/live`: 200 while the runtime loop answers.
    pub(super) async fn live(&self) -> Reply {
        let probe = self.runtime.liveness().await;
        Reply::json(
            if probe.ok { 200 } else { 503 },
            json!({ "status": if probe.ok { "ok" } else { "unhealthy" }, "reason": probe.reason }),
        )
    }

    /// `GET /health/ready`: 200 when started, not stopping and not unhealthy. The probe is
    /// open to anyone, unidentified; with `protect_reads` (`reveal` false) it says which
    /// contributors fail, not why: that is `/health`'s, for a viewer.
    pub(super) async fn ready(&self, reveal: bool) -> Reply {
        let probe = self.runtime.readiness().await;
        let reason = if reveal {
            probe.reason.clone()
        } else {
            probe.public_reason()
        };
        Reply::json(
            if probe.ok { 200 } else { 503 },
            json!({
                "status": if probe.ok { "ready" } else { "not_ready" },
                "state": self.runtime.state(),
                "health": probe.state,
                "reason": reason,
            }),
        )
    }

    /// `GET /health`: every contributor; 503 when the aggregate is unhealthy.
    pub(super) async fn health(&self) -> Reply {
        let health = self.runtime.health().await;
        let contributors: Vec<Value> = health
            .contributors
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "state": c.state,
                    "reason": c.reason,
                    "critical": c.critical,
                    "latency_ms": c.latency.as_secs_f64() * 1000.0,
                })
            })
            .collect();
        let status = if health.state == plba_contracts::HealthState::Unhealthy {
            503
        } else {
            200
        };
        Reply::json(
            status,
            json!({ "status": health.state, "contributors": contributors }),
        )
    }
}

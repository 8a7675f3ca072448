//! Liveness and readiness: the two questions an orchestrator asks.

use plba_contracts::HealthState;
use serde::Serialize;

use crate::registry::HealthSnapshot;

/// The answer to a probe: pass or fail, with the state and reason to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeResult {
    /// Whether the probe passes (HTTP 200) or fails (HTTP 503).
    pub ok: bool,
    /// The aggregated health state at the time of the probe.
    pub state: HealthState,
    /// Why the probe fails, if it does.
    pub reason: Option<String>,
    /// The critical contributors whose failure fails the probe, by name.
    pub failing: Vec<String>,
}

impl ProbeResult {
    /// The reason to show a caller who may not read health details: the lifecycle phase,
    /// or the names of the failing contributors without their reasons (a reason can quote a
    /// database's answer or a host name).
    pub fn public_reason(&self) -> Option<String> {
        if self.failing.is_empty() {
            return self.reason.clone();
        }
        Some(format!(
            "unhealthy: {} (their reasons are shown to a viewer at /health)",
            self.failing.join(", ")
        ))
    }
}

/// Liveness: the runtime's control loop answered. Health of contributors does not matter
/// here: restarting a process because its database is down helps nobody.
pub fn liveness(runtime_answered: bool) -> ProbeResult {
    ProbeResult {
        ok: runtime_answered,
        state: if runtime_answered {
            HealthState::Ok
        } else {
            HealthState::Unhealthy
        },
        reason: (!runtime_answered).then(|| "runtime did not answer".to_owned()),
        failing: Vec::new(),
    }
}

/// Readiness: the runtime is started and not stopping (`lifecycle` is `Ok`, or `Err` with
/// the phase that prevents it), and the application is not unhealthy. Degraded is still
/// ready: it serves, if impaired.
pub fn readiness(lifecycle: Result<(), &str>, snapshot: &HealthSnapshot) -> ProbeResult {
    if let Err(phase) = lifecycle {
        return ProbeResult {
            ok: false,
            state: snapshot.state,
            reason: Some(phase.to_owned()),
            failing: Vec::new(),
        };
    }
    if snapshot.state == HealthState::Unhealthy {
        let failing: Vec<_> = snapshot
            .contributors
            .iter()
            .filter(|c| c.critical && c.state == HealthState::Unhealthy)
            .collect();
        let reasons: Vec<String> = failing
            .iter()
            .map(|c| format!("{}: {}", c.name, c.reason.as_deref().unwrap_or("unhealthy")))
            .collect();
        return ProbeResult {
            ok: false,
            state: snapshot.state,
            reason: Some(reasons.join("; ")),
            failing: failing.iter().map(|c| c.name.clone()).collect(),
        };
    }
    ProbeResult {
        ok: true,
        state: snapshot.state,
        reason: None,
        failing: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::registry::ContributorHealth;

    fn snapshot(state: HealthState, critical: bool) -> HealthSnapshot {
        HealthSnapshot {
            state: crate::aggregate([(state, critical)]),
            contributors: vec![ContributorHealth {
                name: "db".into(),
                state,
                reason: (state != HealthState::Ok).then(|| "down".into()),
                critical,
                latency: Duration::ZERO,
            }],
            checked_at: SystemTime::now(),
        }
    }

    #[test]
    fn ready_only_when_running_and_not_unhealthy() {
        assert!(readiness(Ok(()), &snapshot(HealthState::Ok, true)).ok);
        assert!(readiness(Ok(()), &snapshot(HealthState::Degraded, true)).ok);
        assert!(readiness(Ok(()), &snapshot(HealthState::Unhealthy, false)).ok);
        let bad = readiness(Ok(()), &snapshot(HealthState::Unhealthy, true));
        assert!(!bad.ok);
        assert_eq!(bad.reason.as_deref(), Some("db: down"));
        let public = bad.public_reason().unwrap();
        assert!(
            public.contains("db") && !public.contains("down"),
            "{public}"
        );
        let stopping = readiness(Err("stopping"), &snapshot(HealthState::Ok, true));
        assert!(!stopping.ok);
        assert_eq!(stopping.reason.as_deref(), Some("stopping"));
        assert_eq!(stopping.public_reason().as_deref(), Some("stopping"));
    }

    #[test]
    fn liveness_follows_the_runtime_loop_only() {
        assert!(liveness(true).ok);
        assert!(!liveness(false).ok);
    }
}

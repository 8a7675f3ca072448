//! The recent audited actions, kept for the console's audit page (the log has them all).
//! Refused requests are kept apart ([`super::refusals`]), so none can push a change out.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use plba_contracts::{MetricFamily, MetricKind, MetricValue};

use plba_util::Unpoisoned;
use serde_json::{Value, json};

use super::ControlPlaneService;
use crate::reply::Reply;

/// Most audit entries kept in memory.
const AUDIT_KEPT: usize = 200;

/// The newest [`AUDIT_KEPT`] changes and, apart, the newest [`AUDIT_KEPT`] sign-ins and
/// sign-outs (so signing in again and again cannot push a change out): who, what, when, and
/// the answer's status.
#[derive(Debug, Default)]
pub(super) struct AuditLog {
    changes: Mutex<VecDeque<Value>>,
    sessions: Mutex<VecDeque<Value>>,
    /// Refused sign-ins, apart: a flood of them cannot push out who did sign in.
    failed_sign_ins: Mutex<VecDeque<Value>>,
}

impl AuditLog {
    pub(super) fn record(&self, who: &str, client: Option<IpAddr>, action: &str, status: u16) {
        let ring = match action {
            "sign-in" if status != 200 => &self.failed_sign_ins,
            "sign-in" | "sign-out" | "sign-out-everywhere" | "account-locked" => &self.sessions,
            _ => &self.changes,
        };
        let mut entries = ring.lock_or_recover();
        if entries.len() == AUDIT_KEPT {
            entries.pop_front();
        }
        entries.push_back(json!({
            "at": now_seconds(),
            "who": who,
            "client": client.map(|ip| ip.to_string()),
            "action": action,
            "status": status,
        }));
    }

    /// Changes and sessions together, newest first.
    fn newest_first(&self) -> Vec<Value> {
        let mut all: Vec<Value> = self.changes.lock_or_recover().iter().cloned().collect();
        all.extend(self.sessions.lock_or_recover().iter().cloned());
        all.extend(self.failed_sign_ins.lock_or_recover().iter().cloned());
        let at = |entry: &Value| entry["at"].as_f64().unwrap_or_default();
        all.sort_by(|a, b| at(b).total_cmp(&at(a)));
        all
    }
}

/// What password sign-ins came to, for `/metrics`.
#[derive(Debug, Default)]
pub(super) struct SignInCounts {
    pub(super) refused: AtomicU64,
    pub(super) lockouts: AtomicU64,
}

impl SignInCounts {
    /// The counters; the lockouts only when reads need a token, since only known accounts
    /// lock and an open counter would tell anyone which names exist.
    pub(super) fn families(&self, protect_reads: bool) -> Vec<MetricFamily> {
        let mut families = vec![
            MetricFamily::new(
                "plba_control_password_sign_ins_refused_total",
                "Password sign-ins refused: a wrong password, an unknown, disabled or locked user.",
                MetricKind::Counter,
            )
            .with_sample(
                &[],
                MetricValue::Counter(self.refused.load(Ordering::Relaxed)),
            ),
        ];
        if protect_reads {
            families.push(
                MetricFamily::new(
                    "plba_control_account_lockouts_total",
                    "Accounts locked after too many wrong passwords.",
                    MetricKind::Counter,
                )
                .with_sample(
                    &[],
                    MetricValue::Counter(self.lockouts.load(Ordering::Relaxed)),
                ),
            );
        }
        families
    }
}

/// Now, in seconds since the Unix epoch, as the audit's entries say when.
pub(super) fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl ControlPlaneService {
    /// `GET /audit`: the changes and sign-ins (`audit`), and apart from them the newest
    /// refused requests (`refusals`).
    /// The changes to users and tokens come from the users' database, so those made on
    /// another instance or with the command line are there too.
    pub(super) async fn audit_entries(&self) -> Reply {
        let mut audit = self.audit.newest_first();
        if let Some(users) = &self.users {
            // Changes to users and, apart, to tokens: each kept window is full size.
            for tokens in [false, true] {
                match users.recent_changes(AUDIT_KEPT, tokens).await {
                    Ok(changes) => audit.extend(changes.into_iter().map(|change| {
                        json!({
                            "at": change.at_ms as f64 / 1000.0,
                            "who": change.actor,
                            "client": change.client,
                            "action": change.action,
                            "subject": change.subject,
                            "status": 200,
                        })
                    })),
                    Err(error) => {
                        tracing::warn!(error = %plba_util::error_chain(&error), "the changes to users could not be read for the audit");
                    }
                }
            }
            let at = |entry: &Value| entry["at"].as_f64().unwrap_or_default();
            audit.sort_by(|a, b| at(b).total_cmp(&at(a)));
        }
        Reply::ok(json!({
            "audit": audit,
            "refusals": self.refusals.newest_first(),
        }))
    }
}

//! Health: is a part of the application operational?

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

/// Health levels, ordered from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Fully operational.
    Ok,
    /// Working, but impaired (reconnecting, slow, a non-critical part down).
    Degraded,
    /// Not operational.
    Unhealthy,
}

impl HealthState {
    /// The lowercase name used in JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer of one health check: a state and, unless ok, the reason.
///
/// ```
/// use plba_contracts::{HealthReport, HealthState};
///
/// let report = HealthReport::degraded("reconnecting to imap.example.com");
/// assert_eq!(report.state(), HealthState::Degraded);
/// assert_eq!(report.reason(), Some("reconnecting to imap.example.com"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthReport {
    /// Operational.
    Ok,
    /// Impaired.
    Degraded {
        /// Why.
        reason: String,
    },
    /// Not operational.
    Unhealthy {
        /// Why.
        reason: String,
    },
}

impl HealthReport {
    /// Operational.
    pub fn ok() -> Self {
        Self::Ok
    }

    /// Impaired, for `reason`.
    pub fn degraded(reason: impl Into<String>) -> Self {
        Self::Degraded {
            reason: reason.into(),
        }
    }

    /// Not operational, for `reason`.
    pub fn unhealthy(reason: impl Into<String>) -> Self {
        Self::Unhealthy {
            reason: reason.into(),
        }
    }

    /// The level.
    pub fn state(&self) -> HealthState {
        match self {
            Self::Ok => HealthState::Ok,
            Self::Degraded { .. } => HealthState::Degraded,
            Self::Unhealthy { .. } => HealthState::Unhealthy,
        }
    }

    /// The reason, unless ok.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Ok => None,
            Self::Degraded { reason } | Self::Unhealthy { reason } => Some(reason),
        }
    }
}

/// How the runtime treats a contributor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthOptions {
    /// A critical contributor that is unhealthy makes the whole application unhealthy (not
    /// ready); a non-critical one only degrades it.
    pub critical: bool,
    /// A check that takes longer counts as unhealthy ("timed out"); the others are not held up.
    pub timeout: Duration,
}

impl Default for HealthOptions {
    fn default() -> Self {
        Self {
            critical: true,
            timeout: Duration::from_secs(2),
        }
    }
}

impl HealthOptions {
    /// Critical, default timeout.
    pub fn critical() -> Self {
        Self::default()
    }

    /// Non-critical, default timeout.
    pub fn non_critical() -> Self {
        Self {
            critical: false,
            ..Self::default()
        }
    }

    /// Same options with another timeout.
    #[must_use]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }
}

/// Something whose health the runtime reports: a database, a mailbox connection, a queue.
///
/// # Protocol
///
/// - The health registry calls [`check`](Self::check) whenever health is asked for (a probe
///   may ask every second), concurrently with other contributors, under the timeout of its
///   [`HealthOptions`]. Keep it cheap: report a state the component already tracks, or do
///   one quick round trip.
/// - A check that exceeds its timeout is dropped and counts as unhealthy; one that panics
///   counts as unhealthy too. Neither affects other contributors.
///
/// ```
/// use plba_contracts::{async_trait, HealthContributor, HealthReport};
///
/// struct AlwaysOk;
///
/// #[async_trait]
/// impl HealthContributor for AlwaysOk {
///     async fn check(&self) -> HealthReport {
///         HealthReport::ok()
///     }
/// }
/// ```
#[async_trait]
pub trait HealthContributor: Send + Sync + 'static {
    /// The current health of this part.
    async fn check(&self) -> HealthReport;
}

//! The configuration database an instance follows, as the control plane shows and changes it.

use crate::ApiError;

/// The configuration database (`platform.config_store`) behind the configuration in force.
///
/// The facade implements it over the store and its follower; the control plane only asks:
/// `/status` shows where the instance stands against the database (its revision, whether
/// the database is away or its values refused), `/config/history` who changed what, and an
/// admin's `POST /config/values` changes a value, which the implementation checks as a
/// reload is checked before it commits anything.
#[plba_contracts::async_trait]
pub trait StoredConfig: Send + Sync + std::fmt::Debug + 'static {
    /// Where this instance stands against the database, as JSON for `/status`.
    fn status(&self) -> serde_json::Value;

    /// The newest `limit` changes (of `key` only, when given), newest first: each with its
    /// `revision`, `key`, `old_value`, `new_value`, `actor`, `at` (RFC 3339), `at_ms` and
    /// `comment`.
    async fn history(
        &self,
        key: Option<String>,
        limit: usize,
    ) -> Result<serde_json::Value, ApiError>;

    /// Sets `key` to `value` (YAML text; `None` removes it) as `actor`: refused with
    /// [`ApiError::InvalidConfiguration`] when the values it makes are not a valid
    /// configuration, so nothing invalid is committed. The new revision, as JSON.
    async fn change(
        &self,
        key: String,
        value: Option<String>,
        actor: String,
        comment: Option<String>,
    ) -> Result<serde_json::Value, ApiError>;
}

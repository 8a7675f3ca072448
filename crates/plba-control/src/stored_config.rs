//! The configuration database an instance follows, as the control plane shows it.

/// The configuration database (`platform.config_store`) behind the configuration in force.
///
/// The facade implements it over the store and its follower; the control plane only asks:
/// `/status` shows where the instance stands against the database (its revision, whether
/// the database is away or its values refused) beside the configuration's generation.
pub trait StoredConfig: Send + Sync + std::fmt::Debug + 'static {
    /// Where this instance stands against the database, as JSON for `/status`.
    fn status(&self) -> serde_json::Value;
}

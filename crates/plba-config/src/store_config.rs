//! The `platform.config_store` section: where an instance reads the configuration layer that
//! every instance shares, and what it does when that database is away.

use serde::{Deserialize, Serialize};

/// The configuration database an instance follows (`platform.config_store`): values there
/// sit above the file and below the environment, and a change reaches every instance.
///
/// ```yaml
/// platform:
///   config_store:
///     url: postgres://plba@db.internal/plba   # or sqlite:///var/lib/bot/config.db
///     password_file: /run/secrets/config-db-password
///     cache_file: /var/lib/bot/config-cache.json
///     start_from_cache: true
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigStoreConfig {
    /// `sqlite://PATH` (one host) or `postgres://user@host/db` (shared), without its
    /// password.
    pub url: String,
    /// The PostgreSQL user's password, when the URL has none: give it as `password_file`
    /// (PGPASSWORD and `~/.pgpass` are read too, as libpq reads them).
    #[serde(default)]
    pub password: Option<plba_contracts::Secret<String>>,
    /// Whose values these are: the application's module name when left out, so two
    /// applications may share one database.
    #[serde(default)]
    pub application: Option<String>,
    /// How often the latest values are read besides the notifications (PostgreSQL
    /// announces each change; SQLite is only polled), in milliseconds.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Where the last values applied are kept, so an instance can start while the
    /// database is away (with `start_from_cache`).
    #[serde(default)]
    pub cache_file: Option<std::path::PathBuf>,
    /// Start from `cache_file` when the database cannot be read at start-up, instead of
    /// refusing to start.
    #[serde(default)]
    pub start_from_cache: bool,
}

fn default_poll_interval_ms() -> u64 {
    1_000
}

/// The key under which the section lives; the store may not hold it (an instance reads it
/// before it can reach the store).
pub const CONFIG_STORE_KEY: &str = "platform.config_store";

impl ConfigStoreConfig {
    /// Checks what the store would otherwise refuse only when an instance opens it.
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        let at = |field: &str| format!("{CONFIG_STORE_KEY}.{field}");
        let url = self.url.trim();
        let known = ["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| url.starts_with(scheme));
        if !known {
            return Err((
                at("url"),
                "must be sqlite://PATH or postgres://user@host/database".to_owned(),
            ));
        }
        let query_password = url.split_once('?').is_some_and(|(_, query)| {
            query
                .split('&')
                .any(|pair| pair.to_ascii_lowercase().starts_with("password="))
        });
        if query_password || url::Url::parse(url).is_ok_and(|parsed| parsed.password().is_some()) {
            return Err((
                at("url"),
                "carries a password, which the URL would show wherever it is printed: give it in password_file".to_owned(),
            ));
        }
        let sqlite_path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .map(|rest| rest.split('?').next().unwrap_or_default());
        if sqlite_path.is_some_and(|path| path.is_empty() || path.contains(":memory:")) {
            return Err((
                at("url"),
                "names no file: an in-memory database would forget every change (sqlite://data/config.db)".to_owned(),
            ));
        }
        if let Some(application) = &self.application {
            let fits = !application.is_empty()
                && application.len() <= 64
                && application
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
            if !fits {
                return Err((
                    at("application"),
                    format!(
                        "{application:?} is not an application name (letters, digits, `_` and `-`, at most 64)"
                    ),
                ));
            }
        }
        if !(50..=3_600_000).contains(&self.poll_interval_ms) {
            return Err((
                at("poll_interval_ms"),
                format!(
                    "{} is out of range: from 50 ms to an hour",
                    self.poll_interval_ms
                ),
            ));
        }
        if self.start_from_cache && self.cache_file.is_none() {
            return Err((
                at("start_from_cache"),
                "needs `cache_file`: where the last values applied are kept".to_owned(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn store(url: &str) -> ConfigStoreConfig {
        ConfigStoreConfig {
            url: url.to_owned(),
            password: None,
            application: None,
            poll_interval_ms: 1_000,
            cache_file: None,
            start_from_cache: false,
        }
    }

    #[test]
    fn a_store_needs_a_database_url_and_a_cache_to_start_from() {
        store("sqlite:///var/lib/bot/config.db").validate().unwrap();
        store("postgres://plba@db/plba").validate().unwrap();
        let (key, reason) = store("mysql://db").validate().unwrap_err();
        assert_eq!(key, "platform.config_store.url", "{reason}");
        let (_, reason) = store("postgres://plba:hunter2@db/plba")
            .validate()
            .unwrap_err();
        assert!(
            reason.contains("password_file") && !reason.contains("hunter2"),
            "{reason}"
        );
        let mut cached = store("sqlite://c.db");
        cached.start_from_cache = true;
        let (key, _) = cached.validate().unwrap_err();
        assert_eq!(key, "platform.config_store.start_from_cache");
        let mut named = store("sqlite://c.db");
        named.application = Some("bot one".to_owned());
        assert_eq!(
            named.validate().unwrap_err().0,
            "platform.config_store.application"
        );
    }
}

//! Configuration as a module sees it: its own typed section.

use serde::de::DeserializeOwned;

/// Why a configuration section could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The value at `key` does not fit the expected type or is missing a field.
    #[error("invalid configuration at `{key}`{}: {reason}", origin_suffix(.origin))]
    Invalid {
        /// Dotted path of the offending key, e.g. `mail_order_bot.limits.max_lines`.
        key: String,
        /// Where the value came from (file and line, env variable, `--set`), when known.
        origin: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// The configuration could not be loaded at all.
    #[error("configuration unavailable: {reason}")]
    Unavailable {
        /// What went wrong.
        reason: String,
    },
}

fn origin_suffix(origin: &Option<String>) -> String {
    origin
        .as_ref()
        .map(|s| format!(" (from {s})"))
        .unwrap_or_default()
}

/// Read access to the effective configuration, one section per key.
///
/// Object-safe on purpose: a module receives `&dyn ConfigProvider` and decodes its own
/// section into its own serde type through [`ConfigProviderExt::section`].
pub trait ConfigProvider: Send + Sync {
    /// The raw value of section `key` (a top-level key of the configuration), if present.
    fn section_value(&self, key: &str) -> Result<Option<serde_json::Value>, ConfigError>;

    /// Where the value at the dotted `key_path` came from, for error messages (e.g.
    /// `file config.yaml line 12`, `env PLBA__APP__LIMIT`, `--set app.limit=3`).
    fn describe_source(&self, key_path: &str) -> Option<String> {
        let _ = key_path;
        None
    }

    /// Whether the value at the dotted `key_path` is a secret, whose value must not appear
    /// in error messages.
    fn is_secret(&self, key_path: &str) -> bool {
        let _ = key_path;
        false
    }
}

/// Typed access on top of [`ConfigProvider`].
pub trait ConfigProviderExt: ConfigProvider {
    /// Decodes section `key` into `T`; `Ok(None)` when the section is absent. A type error
    /// names the full key path and, when the provider knows it, where the value came from.
    ///
    /// ```
    /// use plba_contracts::{ConfigError, ConfigProvider, ConfigProviderExt};
    ///
    /// struct Fixed(serde_json::Value);
    /// impl ConfigProvider for Fixed {
    ///     fn section_value(&self, key: &str) -> Result<Option<serde_json::Value>, ConfigError> {
    ///         Ok(self.0.get(key).cloned())
    ///     }
    /// }
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Limits { max_lines: u32 }
    ///
    /// let cfg = Fixed(serde_json::json!({ "limits": { "max_lines": "many" } }));
    /// let err = cfg.section::<Limits>("limits").unwrap_err();
    /// assert!(err.to_string().contains("`limits.max_lines`"));
    /// ```
    fn section<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        let Some(value) = self.section_value(key)? else {
            return Ok(None);
        };
        serde_path_to_error::deserialize(value)
            .map(Some)
            .map_err(|err| {
                let inner = err.path().to_string();
                let key_path = if inner.is_empty() || inner == "." {
                    key.to_owned()
                } else {
                    format!("{key}.{inner}")
                };
                let reason = if self.is_secret(&key_path) {
                    "invalid value (not shown: the key holds a secret)".to_owned()
                } else {
                    err.into_inner().to_string()
                };
                ConfigError::Invalid {
                    origin: self.describe_source(&key_path),
                    reason,
                    key: key_path,
                }
            })
    }
}

impl<P: ConfigProvider + ?Sized> ConfigProviderExt for P {}

/// A configuration with no sections (embedded use and tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyConfig;

impl ConfigProvider for EmptyConfig {
    fn section_value(&self, _key: &str) -> Result<Option<serde_json::Value>, ConfigError> {
        Ok(None)
    }
}

impl ConfigProvider for serde_json::Value {
    fn section_value(&self, key: &str) -> Result<Option<serde_json::Value>, ConfigError> {
        Ok(self.get(key).cloned())
    }
}

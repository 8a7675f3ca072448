//! Configuration as a module sees it: its own typed section.

use serde::de::DeserializeOwned;

/// Where the control plane listens when `platform.control.bind` is not set: modules that
/// open listeners of their own check theirs against it.
pub const DEFAULT_CONTROL_BIND: &str = "127.0.0.1:9090";

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

impl ConfigError {
    /// An invalid value at `key`, a path relative to the code that checks it; the caller
    /// that knows where the section sits completes it with [`located`](Self::located).
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            origin: None,
            reason: reason.into(),
        }
    }

    /// The same error with `prefix` in front of its key (a checker of a sub-section
    /// reports keys relative to it; its caller knows where it sits).
    #[must_use]
    pub fn within(self, prefix: &str) -> Self {
        match self {
            Self::Invalid {
                key,
                origin,
                reason,
            } => Self::Invalid {
                key: match (prefix.is_empty(), key.is_empty()) {
                    (true, _) => key,
                    (false, true) => prefix.to_owned(),
                    (false, false) => format!("{prefix}.{key}"),
                },
                origin,
                reason,
            },
            other => other,
        }
    }

    /// [`within`](Self::within) `prefix`, then, when still unknown, the origin of the value
    /// as `config` records it (file and line, env variable, `--set`).
    ///
    /// ```
    /// use plba_contracts::ConfigError;
    ///
    /// let error = ConfigError::invalid("capacity", "must be at least 1")
    ///     .located("app.queue", &serde_json::Value::Null);
    /// assert_eq!(error.to_string(), "invalid configuration at `app.queue.capacity`: must be at least 1");
    /// ```
    #[must_use]
    pub fn located(self, prefix: &str, config: &dyn ConfigProvider) -> Self {
        match self.within(prefix) {
            Self::Invalid {
                key,
                origin,
                reason,
            } => Self::Invalid {
                origin: origin.or_else(|| config.describe_source(&key)),
                key,
                reason,
            },
            other => other,
        }
    }
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

/// A component that follows configuration reloads: it checks a candidate configuration
/// before the runtime accepts it, and applies it after.
///
/// # Protocol
///
/// On a reload (SIGHUP, the file changing, the control plane's reload action) the runtime
/// calls [`check`](Self::check) on every subscriber with the candidate. If any check fails,
/// the reload is refused with that error and the configuration in force stays. Otherwise the
/// candidate is installed and [`apply`](Self::apply) is called on every subscriber. A reload
/// never reports success for a setting that did not take effect: what `check` lists as
/// needing a restart is reported to the operator with the reload's outcome.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use plba_contracts::{ConfigError, ConfigProvider, ConfigProviderExt, ConfigSubscriber};
///
/// #[derive(serde::Deserialize)]
/// struct Limits { max_lines: u32 }
///
/// struct LiveLimit(AtomicU32);
///
/// impl ConfigSubscriber for LiveLimit {
///     fn check(&self, candidate: &dyn ConfigProvider) -> Result<Vec<String>, ConfigError> {
///         match candidate.section::<Limits>("limits")? {
///             Some(limits) if limits.max_lines == 0 => Err(ConfigError::Invalid {
///                 key: "limits.max_lines".into(),
///                 origin: candidate.describe_source("limits.max_lines"),
///                 reason: "must be at least 1".into(),
///             }),
///             _ => Ok(Vec::new()), // applies live: nothing needs a restart
///         }
///     }
///
///     fn apply(&self, config: &dyn ConfigProvider) {
///         if let Ok(Some(limits)) = config.section::<Limits>("limits") {
///             self.0.store(limits.max_lines, Ordering::Relaxed);
///         }
///     }
/// }
/// ```
pub trait ConfigSubscriber: Send + Sync + 'static {
    /// Checks `candidate`. `Ok` lists the settings (dotted key paths) whose change takes
    /// effect only after a restart; an error refuses the reload.
    fn check(&self, candidate: &dyn ConfigProvider) -> Result<Vec<String>, ConfigError>;

    /// Applies an accepted configuration. Called only after every subscriber's check passed.
    fn apply(&self, config: &dyn ConfigProvider);
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
        self.decode_at(key, value).map(Some)
    }

    /// Decodes `value`, which this configuration holds at the dotted `key_path`, into `T`:
    /// for a part of a section that its reader decodes on its own, once it knows the part's
    /// type (the options of a section whose `kind` picks their type). Errors are
    /// [`section`](Self::section)'s: the full key path, where the value came from, and
    /// never a secret's value.
    ///
    /// ```
    /// use plba_contracts::ConfigProviderExt;
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Imap { port: u16 }
    ///
    /// let config = serde_json::json!({ "app": { "source": { "kind": "imap", "port": "abc" } } });
    /// let mut options = config["app"]["source"].clone();
    /// options.as_object_mut().unwrap().remove("kind");
    /// let err = config.decode_at::<Imap>("app.source", options).unwrap_err();
    /// assert!(err.to_string().starts_with("invalid configuration at `app.source.port`"), "{err}");
    /// ```
    fn decode_at<T: DeserializeOwned>(
        &self,
        key_path: &str,
        value: serde_json::Value,
    ) -> Result<T, ConfigError> {
        serde_path_to_error::deserialize(value).map_err(|error| {
            let serde_path = error.path().to_string();
            let reason = error.into_inner().to_string();
            let key = error_key(key_path, &serde_path, &reason);
            let reason = if self.is_secret(&key) {
                "invalid value (not shown: the key holds a secret)".to_owned()
            } else {
                reason
            };
            ConfigError::Invalid {
                origin: self.describe_source(&key),
                reason,
                key,
            }
        })
    }
}

/// The full key of a decoding error: `key_path`, then the path serde followed inside the
/// value, then, for an unknown key, the key itself: serde's path ends at the map holding it,
/// and an operator looks for the misspelt key, not for its parent.
fn error_key(key_path: &str, serde_path: &str, reason: &str) -> String {
    let join = |prefix: &str, rest: &str| match (prefix.is_empty(), rest.is_empty()) {
        (_, true) => prefix.to_owned(),
        (true, false) => rest.to_owned(),
        (false, false) => format!("{prefix}.{rest}"),
    };
    // serde_path_to_error shows the value's root as `.`.
    let serde_path = if serde_path == "." { "" } else { serde_path };
    let key = join(key_path, serde_path);
    match reason
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
    {
        Some((field, _)) if key != field && !key.ends_with(&format!(".{field}")) => {
            join(&key, field)
        }
        _ => key,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

    use super::*;

    #[allow(dead_code)] // only serde reads the fields: the tests look at the errors
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Options {
        port: u16,
        password: Option<String>,
        #[serde(default)]
        nested: Nested,
    }

    #[allow(dead_code)] // only serde reads the fields: the tests look at the errors
    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nested {
        #[serde(default)]
        depth: u8,
    }

    /// A provider that knows where every value came from and holds one secret.
    struct Located;

    impl ConfigProvider for Located {
        fn section_value(&self, _key: &str) -> Result<Option<serde_json::Value>, ConfigError> {
            Ok(None)
        }

        fn describe_source(&self, key_path: &str) -> Option<String> {
            Some(format!("at {key_path}"))
        }

        fn is_secret(&self, key_path: &str) -> bool {
            key_path.ends_with(".password")
        }
    }

    fn key_of(error: ConfigError) -> String {
        match error {
            ConfigError::Invalid { key, .. } => key,
            ConfigError::Unavailable { reason } => panic!("not a key error: {reason}"),
        }
    }

    #[test]
    fn a_decoding_error_names_the_full_key_and_its_origin() {
        let value = serde_json::json!({ "port": 1, "nested": { "depth": "deep" } });
        let error = Located
            .decode_at::<Options>("app.source", value)
            .unwrap_err();
        assert_eq!(
            error,
            ConfigError::Invalid {
                key: "app.source.nested.depth".to_owned(),
                origin: Some("at app.source.nested.depth".to_owned()),
                reason: "invalid type: string \"deep\", expected u8".to_owned(),
            }
        );
    }

    #[test]
    fn an_unknown_key_is_named_itself_at_any_depth() {
        let top = serde_json::json!({ "port": 1, "prot": 2 });
        let error = Located.decode_at::<Options>("app.source", top).unwrap_err();
        assert_eq!(key_of(error), "app.source.prot");
        let nested = serde_json::json!({ "port": 1, "nested": { "deph": 2 } });
        let error = Located
            .decode_at::<Options>("app.source", nested)
            .unwrap_err();
        assert_eq!(key_of(error), "app.source.nested.deph");
        // Decoded at the root of nothing, the key is relative to the value.
        let error = EmptyConfig
            .decode_at::<Options>("", serde_json::json!({ "port": 1, "prot": 2 }))
            .unwrap_err();
        assert_eq!(key_of(error), "prot");
    }

    #[test]
    fn a_type_error_of_the_value_itself_names_its_key() {
        let error = Located
            .decode_at::<Options>("app.source", serde_json::json!(5))
            .unwrap_err();
        assert_eq!(key_of(error), "app.source");
    }

    #[test]
    fn a_secret_value_is_never_shown() {
        let value = serde_json::json!({ "port": 1, "password": 123_456 });
        let error = Located
            .decode_at::<Options>("app.source", value)
            .unwrap_err()
            .to_string();
        assert!(error.contains("`app.source.password`"), "{error}");
        assert!(error.contains("not shown"), "{error}");
        assert!(!error.contains("123456"), "{error}");
    }
}

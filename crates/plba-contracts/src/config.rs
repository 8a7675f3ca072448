//! Configuration as a module sees it: its own typed section.

use std::fmt;

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

/// A serde error raised while decoding part of a value on its own (the body of a tagged
/// section, decoded once its `kind` is known), carrying the key path inside that part so
/// [`ConfigProviderExt::section`] can report the full key instead of the part's root.
///
/// ```
/// use plba_contracts::{ConfigProviderExt, nested_key_error};
///
/// #[derive(Debug)]
/// struct Port(u16);
/// impl<'de> serde::Deserialize<'de> for Port {
///     fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
///         let raw = serde_json::Value::deserialize(d)?;
///         raw.get("port").and_then(|p| p.as_u64()).and_then(|p| u16::try_from(p).ok()).map(Port)
///             .ok_or_else(|| nested_key_error("port", "expected a port number"))
///     }
/// }
/// let config = serde_json::json!({ "server": { "port": -1 } });
/// let error = config.section::<Port>("server").unwrap_err();
/// assert!(error.to_string().contains("`server.port`"), "{error}");
/// ```
pub fn nested_key_error<E: serde::de::Error>(path: &str, reason: impl fmt::Display) -> E {
    E::custom(format_args!("{NESTED}{path}`: {reason}"))
}

const NESTED: &str = "at key `";

/// Splits a message made by [`nested_key_error`] into the inner key path and the reason.
pub fn split_nested_key_error(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix(NESTED)?;
    let (path, reason) = rest.split_once("`: ")?;
    Some((path, reason))
}

/// `key` + the path serde reported + the path inside a nested decode, and the reason.
pub fn full_key_and_reason(key: &str, serde_path: &str, message: String) -> (String, String) {
    let mut path = if serde_path.is_empty() || serde_path == "." {
        key.to_owned()
    } else {
        format!("{key}.{serde_path}")
    };
    let mut reason = message;
    if let Some((inner, rest)) = split_nested_key_error(&reason) {
        if !inner.is_empty() && inner != "." {
            path = format!("{path}.{inner}");
        }
        reason = rest.to_owned();
    }
    // Name the unknown key itself, not the struct it was found in.
    if let Some(rest) = reason.strip_prefix("unknown field `")
        && let Some((field, _)) = rest.split_once('`')
        && !path.ends_with(&format!(".{field}"))
    {
        path = format!("{path}.{field}");
    }
    (path, reason)
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
        serde_path_to_error::deserialize(value)
            .map(Some)
            .map_err(|err| {
                let serde_path = err.path().to_string();
                let (key_path, reason) =
                    full_key_and_reason(key, &serde_path, err.into_inner().to_string());
                let reason = if self.is_secret(&key_path) {
                    "invalid value (not shown: the key holds a secret)".to_owned()
                } else {
                    reason
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

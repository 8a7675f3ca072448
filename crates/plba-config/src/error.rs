//! The one error type of plba-config.

use std::path::PathBuf;

use plba_contracts::ConfigError;

/// Why a configuration could not be loaded or reloaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigLoadError {
    /// The configuration file does not exist or cannot be read.
    #[error("cannot read configuration file {}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid configuration document (not YAML, or not a mapping).
    #[error("configuration file {}: {what}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
        /// The YAML parser's error, naming line and column, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A `--set` argument or an environment variable is malformed.
    #[error("invalid override {origin}: {what}")]
    Override {
        /// The argument or variable name.
        origin: String,
        /// What is wrong.
        what: String,
        /// The parser's error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A value of a configuration database is malformed, or not allowed there.
    #[error("invalid value in {origin}: {what}")]
    Stored {
        /// The database, its revision and the key.
        origin: String,
        /// What is wrong.
        what: String,
        /// The parser's error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The sources together go past a limit of [`ConfigLimits`](crate::ConfigLimits) or of
    /// the parser: what they expand to once YAML aliases are written out (an alias bomb),
    /// how many values they hold, how deep brackets nest. Nothing past the limit was built.
    #[error("{origin}: {what} (a limit for all sources together)")]
    TooLarge {
        /// The file, env variable or `--set` argument being read when the limit was reached.
        origin: String,
        /// Which limit, and its value.
        what: String,
    },
    /// A `<key>_file` secret file cannot be read.
    #[error("cannot read the file for `{key}` ({})", path.display())]
    SecretFile {
        /// The key the file provides.
        key: String,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A value has the wrong type, a required key is missing, or a key is unknown.
    #[error("invalid configuration at `{key}`{}: {reason}", origin.as_ref().map(|o| format!(" (from {o})")).unwrap_or_default())]
    Invalid {
        /// Dotted key path.
        key: String,
        /// Where the value came from, when known.
        origin: Option<String>,
        /// What is wrong (values of secrets are never shown).
        reason: String,
    },
}

impl From<ConfigLoadError> for ConfigError {
    fn from(error: ConfigLoadError) -> Self {
        match error {
            ConfigLoadError::Invalid {
                key,
                origin,
                reason,
            } => ConfigError::Invalid {
                key,
                origin,
                reason,
            },
            other => ConfigError::Unavailable {
                reason: plba_util::error_chain(&other),
            },
        }
    }
}

impl From<ConfigError> for ConfigLoadError {
    fn from(error: ConfigError) -> Self {
        match error {
            ConfigError::Invalid {
                key,
                origin,
                reason,
            } => ConfigLoadError::Invalid {
                key,
                origin,
                reason,
            },
            ConfigError::Unavailable { reason } => ConfigLoadError::Invalid {
                key: String::new(),
                origin: None,
                reason,
            },
        }
    }
}

//! Configuration for PLBA applications.
//!
//! One YAML file with a `platform` section, a `log` section and one section per application
//! module; then environment variables `PLBA__SECTION__KEY` (nested with `__`); then
//! command-line overrides `--set section.key=value`. Later sources win.
//!
//! - Values from env and `--set` are read as YAML scalars, as if written in the file:
//!   `PLBA__APP__LIMIT=42` is a number, `PLBA__APP__NAME='"007"'` a string.
//! - A secret setting `<key>` (named like `password`, `token`, `secret`, …) can be given as
//!   `<key>_file: /path`: the file's content (without its final newline) becomes the value.
//!   Other keys ending in `_file` (`ca_file`) are ordinary settings naming a file.
//! - Secrets — those, and keys named like `password`, `secret`, `token`, `api_key`,
//!   `private_key`, `credentials` — never appear in errors, logs or the effective-config dump.
//! - Errors name the key path and where its value came from: the file (with the line), the
//!   env variable or the `--set` argument.
//! - A map with a `kind` key (a tagged section: a mail source, a queue) is replaced whole
//!   when a higher source names another `kind`, so no key of the old kind is inherited; keys
//!   declared with [`ConfigSource::with_whole_value`] (an allowlist) are always replaced
//!   whole by the highest source that sets them.
//! - What a configuration may hold is bounded ([`ConfigLimits`]): the file's size, what all
//!   sources expand to once YAML aliases are written out, and each secret file's size; past
//!   a limit loading fails with an error naming it, and a reload keeps the running
//!   configuration.
//! - [`ConfigurationManager::reload`] re-reads everything and validates it whole before it
//!   replaces the current configuration; on error the old one stays in force. Subscribers
//!   see each accepted configuration through a `tokio::sync::watch` channel.

mod bounded_yaml;
mod error;
mod layering;
mod limits;
mod location;
mod manager;
mod oidc;
mod platform;
mod secrets;
mod snapshot;
mod source;
mod store_config;
mod stored;

pub use error::ConfigLoadError;
pub use limits::ConfigLimits;
pub use manager::ConfigurationManager;
pub use oidc::{OIDC_CALLBACK_PATH, OidcConfig};
pub use platform::{
    ControlConfig, ControlRole, ControlTls, ControlToken, LogConfig, LogFormat, LogOutput,
    OtlpConfig, PlatformConfig, TraceExporter, TracingConfig, UsersStore,
};
pub use snapshot::ConfigSnapshot;
pub use source::ConfigSource;
pub use store_config::{CONFIG_STORE_KEY, ConfigStoreConfig};
pub use stored::{StoredLayer, is_key_path};

//! One accepted configuration: merged, secrets resolved, platform sections validated.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

use figment::Figment;
use plba_contracts::{ConfigError, ConfigProvider, ConfigProviderExt};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ConfigLoadError;
use crate::location::line_of;
use crate::platform::{LogConfig, PlatformConfig};
use crate::secrets::{is_secret_path, may_hold_secret, plain_secret_paths, redact, resolve_files};
use crate::source::Merged;

/// An immutable, validated configuration. Readers hold an `Arc` of it; a reload builds a new
/// one, so a reader never sees half of an old and half of a new configuration.
pub struct ConfigSnapshot {
    figment: Figment,
    value: Value,
    secret_origins: BTreeMap<String, String>,
    file_text: Option<(PathBuf, String)>,
    platform: PlatformConfig,
    log: LogConfig,
    generation: u64,
    loaded_at: SystemTime,
    file_modified: Option<SystemTime>,
    restart_required: Vec<String>,
    warnings: Vec<String>,
}

impl ConfigSnapshot {
    pub(crate) fn build(merged: Merged, generation: u64) -> Result<Self, ConfigLoadError> {
        let Merged {
            figment,
            file_text,
            file_modified,
            sections,
            secret_file_bytes,
        } = merged;
        let mut value: Value = figment.extract().map_err(|e| ConfigLoadError::Invalid {
            key: e.path.join("."),
            origin: e.metadata.as_ref().map(|m| m.name.to_string()),
            reason: e.kind.to_string(),
        })?;
        let mut secret_origins = BTreeMap::new();
        resolve_files(&mut value, "", secret_file_bytes, &mut secret_origins)?;
        let mut snapshot = Self {
            figment,
            value,
            secret_origins,
            file_text,
            platform: PlatformConfig::default(),
            log: LogConfig::default(),
            generation,
            loaded_at: SystemTime::now(),
            file_modified,
            restart_required: Vec::new(),
            warnings: Vec::new(),
        };
        if let Some(sections) = &sections {
            snapshot.check_sections(sections)?;
        }
        snapshot.platform = snapshot.section("platform")?.unwrap_or_default();
        snapshot.log = snapshot.section("log")?.unwrap_or_default();
        let invalid = |(key, reason): (String, String)| ConfigLoadError::Invalid {
            origin: snapshot.origin_of(&key),
            key,
            reason,
        };
        snapshot.log.validate().map_err(invalid)?;
        snapshot.platform.tracing.validate().map_err(invalid)?;
        snapshot.platform.control.validate().map_err(invalid)?;
        if let Some(store) = &snapshot.platform.config_store {
            store.validate().map_err(invalid)?;
        }
        snapshot.warnings = snapshot.inline_secret_warnings();
        Ok(snapshot)
    }

    /// A warning for every secret written inline in the configuration file: the file is
    /// what gets copied, committed and attached to tickets.
    fn inline_secret_warnings(&self) -> Vec<String> {
        let mut paths = Vec::new();
        plain_secret_paths(&self.value, "", &self.secret_origins, &mut paths);
        paths
            .into_iter()
            .filter_map(|path| {
                let origin = self.origin_of(&path)?;
                origin.starts_with("file ").then(|| {
                    let name = path.rsplit('.').next().unwrap_or(&path);
                    format!(
                        "`{path}` is written inline in {origin}: give it as `{name}_file: /path/to/secret` or through the environment, so the file holds no secret"
                    )
                })
            })
            .collect()
    }

    /// Refuses a top-level section that is neither `platform`, `log` nor one of `modules`.
    fn check_sections(&self, modules: &[String]) -> Result<(), ConfigLoadError> {
        let Some(top) = self.value.as_object() else {
            return Ok(());
        };
        let known =
            |name: &str| name == "platform" || name == "log" || modules.iter().any(|m| m == name);
        match top.keys().find(|name| !known(name)) {
            None => Ok(()),
            Some(unknown) => {
                let mut expected = vec!["platform".to_owned(), "log".to_owned()];
                expected.extend(modules.iter().cloned());
                Err(ConfigLoadError::Invalid {
                    origin: self.origin_of(unknown),
                    key: unknown.clone(),
                    reason: format!("unknown section; expected one of {}", expected.join(", ")),
                })
            }
        }
    }

    /// The `platform` section.
    pub fn platform(&self) -> &PlatformConfig {
        &self.platform
    }

    /// The `log` section.
    pub fn log(&self) -> &LogConfig {
        &self.log
    }

    /// 0 for the first load, then one more for every accepted reload.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The settings this configuration changed that take effect only after a restart (as
    /// the subscribers reported when it was reloaded); empty for the first load.
    pub fn restart_required(&self) -> &[String] {
        &self.restart_required
    }

    pub(crate) fn set_restart_required(&mut self, keys: Vec<String>) {
        self.restart_required = keys;
    }

    /// Things worth an operator's attention that do not make the configuration invalid
    /// (a secret written inline in the file). The launcher logs or prints them.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// When this configuration was read.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }

    /// The configuration file's text as it was read.
    pub(crate) fn file_text(&self) -> Option<&str> {
        self.file_text.as_ref().map(|(_, text)| text.as_str())
    }

    /// The configuration file's modification time when it was read.
    pub fn file_modified(&self) -> Option<SystemTime> {
        self.file_modified
    }

    /// Section `key` decoded as `T`; `Ok(None)` when absent. Errors name the key path and
    /// where its value came from; a secret's value is never part of the message.
    pub fn section<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ConfigLoadError> {
        // The contract's typed access, through this snapshot's `describe_source` and
        // `is_secret`: the platform's sections decode as a module's do, with the same keys.
        ConfigProviderExt::section(self, key).map_err(ConfigLoadError::from)
    }

    /// Where the value at the dotted `key_path` came from: `file <path> line <n>`,
    /// `env <VAR>`, `--set <key>`, or the defaults' name.
    pub fn origin_of(&self, key_path: &str) -> Option<String> {
        // serde writes list indices as `tokens[0]`; the file's structure reads `tokens.0`.
        let normal = key_path.replace('[', ".").replace(']', "");
        let key_path = normal.as_str();
        if let Some(origin) = self
            .secret_origins
            .iter()
            .find(|(secret, _)| key_path == *secret || key_path.starts_with(&format!("{secret}.")))
            .map(|(_, origin)| origin.clone())
        {
            return Some(origin);
        }
        let mut path = key_path;
        loop {
            if let Some(metadata) = self.figment.find_metadata(path) {
                return Some(match &metadata.source {
                    Some(figment::Source::File(file)) => {
                        let line = self.file_text.as_ref().filter(|(p, _)| p == file).and_then(
                            |(_, text)| line_of(text, key_path).or_else(|| line_of(text, path)),
                        );
                        match line {
                            Some(line) => format!("file {} line {line}", file.display()),
                            None => format!("file {}", file.display()),
                        }
                    }
                    _ => metadata.name.to_string(),
                });
            }
            path = path.rsplit_once('.')?.0;
        }
    }

    /// Whether the dotted key path holds a secret.
    pub fn is_secret(&self, key_path: &str) -> bool {
        is_secret_path(key_path, &self.secret_origins)
    }

    /// The effective configuration with every secret shown as `[redacted]`.
    pub fn redacted(&self) -> Value {
        redact(&self.value, "", &self.secret_origins)
    }

    /// [`redacted`](Self::redacted) as YAML, for `check-config` and the control plane.
    pub fn redacted_yaml(&self) -> String {
        serde_yaml::to_string(&self.redacted())
            .unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

impl fmt::Debug for ConfigSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigSnapshot")
            .field("generation", &self.generation)
            .field("value", &self.redacted())
            .finish_non_exhaustive()
    }
}

impl ConfigProvider for ConfigSnapshot {
    fn section_value(&self, key: &str) -> Result<Option<Value>, ConfigError> {
        Ok(self.value.get(key).cloned())
    }

    fn describe_source(&self, key_path: &str) -> Option<String> {
        self.origin_of(key_path)
    }

    fn is_secret(&self, key_path: &str) -> bool {
        may_hold_secret(key_path, &self.secret_origins)
    }
}

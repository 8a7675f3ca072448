//! Reading the section in two steps. Serde reads its keys, keeping each tagged section
//! (`source`, `queue`, `store`) whole; then each tagged section is decoded on its own: its
//! `kind` key picks the variant (`maildir`, `memory` and `sqlite` when absent) and the rest
//! of its keys are read as that variant's options. A kind whose adapter this build lacks
//! decodes to [`NotBuilt`] rather than failing, so the grammar is the same in every build.
//!
//! Not serde's `#[serde(tag = "kind")]`: it cannot default a missing tag, and an error
//! inside a variant would name the tagged section, not the key. The options are decoded
//! through the configuration at their own key path ([`ConfigProviderExt::decode_at`]), so
//! an error names the full key (`mail_order_bot.source.port`), where its value came from,
//! and never shows a secret.

use std::collections::BTreeMap;
use std::path::PathBuf;

use plba_contracts::{ConfigError, ConfigProvider, ConfigProviderExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::adapter::{Adapter, NotBuilt};
use super::schema::{
    AppConfig, MODULE, QueueConfig, RetryConfig, SourceConfig, SourceLeaseConfig, StoreConfig,
    SummaryConfig,
};
use crate::decision::Limits;

impl AppConfig {
    /// The `mail_order_bot` section of `config`, `None` when absent; decoded, not checked
    /// (that is [`check`](Self::check)). An error names the full key path, where its value
    /// came from, and never a secret's value.
    pub fn from_config(config: &dyn ConfigProvider) -> Result<Option<Self>, ConfigError> {
        let Some(section) = config.section_value(MODULE)? else {
            return Ok(None);
        };
        let keys = match config.decode_at::<SectionKeys>(MODULE, section.clone()) {
            Ok(keys) => keys,
            Err(error) => return Err(first_mistake(config, &section, error)),
        };
        let tagged = TaggedKeys {
            queue: keys.queue,
            source: keys.source,
            store: keys.store,
        };
        let (source, queue, store) = tagged.decode(config)?;
        Ok(Some(Self {
            source,
            queue,
            source_lease: keys.source_lease,
            source_stale_after_ms: keys.source_stale_after_ms,
            workers: keys.workers,
            retry: keys.retry,
            handler_timeout_ms: keys.handler_timeout_ms,
            store,
            customers: keys.customers,
            catalog: keys.catalog,
            limits: keys.limits,
            seed_samples: keys.seed_samples,
            summary: keys.summary,
        }))
    }
}

/// The mistake in `section` that serde reports first: it reads a map's keys in order (a
/// section's map is sorted) and stops at the first mistake. The first step stopped at
/// `error`'s key; a tagged section before that key, which only the second step decodes, may
/// hold a mistake that comes first.
fn first_mistake(config: &dyn ConfigProvider, section: &Value, error: ConfigError) -> ConfigError {
    let ConfigError::Invalid { key, .. } = &error else {
        return error;
    };
    let Some(relative) = key
        .strip_prefix(MODULE)
        .and_then(|key| key.strip_prefix('.'))
    else {
        return error;
    };
    let top = relative.split(['.', '[']).next().unwrap_or(relative);
    match TaggedKeys::before(section, top).decode(config) {
        Err(earlier) => earlier,
        Ok(_) => error,
    }
}

/// The keys of one tagged section, as written.
type Keys = Map<String, Value>;

/// The section as serde reads it: [`AppConfig`]'s keys, in its order and with its
/// defaults, each tagged section kept whole for its own step. Its messages are the
/// section's: they list its keys in order and expect `struct AppConfig`.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "struct AppConfig")]
struct SectionKeys {
    #[serde(deserialize_with = "present")]
    source: Option<Keys>,
    #[serde(deserialize_with = "present")]
    queue: Option<Keys>,
    source_lease: Option<SourceLeaseConfig>,
    source_stale_after_ms: u64,
    workers: usize,
    retry: RetryConfig,
    handler_timeout_ms: u64,
    #[serde(deserialize_with = "present")]
    store: Option<Keys>,
    customers: BTreeMap<String, String>,
    catalog: Option<PathBuf>,
    limits: Limits,
    seed_samples: bool,
    summary: SummaryConfig,
}

/// A tagged section that is there: `None` is its absence (the default kind), so a `null`
/// written in its place is refused as not a map, not taken for absent.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Keys>, D::Error> {
    Keys::deserialize(deserializer).map(Some)
}

impl Default for SectionKeys {
    fn default() -> Self {
        // Taken apart whole, so a key added to `AppConfig` cannot be forgotten here.
        let AppConfig {
            source: _,
            queue: _,
            source_lease,
            source_stale_after_ms,
            workers,
            retry,
            handler_timeout_ms,
            store: _,
            customers,
            catalog,
            limits,
            seed_samples,
            summary,
        } = AppConfig::default();
        Self {
            source: None,
            queue: None,
            source_lease,
            source_stale_after_ms,
            workers,
            retry,
            handler_timeout_ms,
            store: None,
            customers,
            catalog,
            limits,
            seed_samples,
            summary,
        }
    }
}

/// The tagged sections as written, each `None` when absent.
struct TaggedKeys {
    queue: Option<Keys>,
    source: Option<Keys>,
    store: Option<Keys>,
}

impl TaggedKeys {
    /// Those of `section` whose key comes before `key`.
    fn before(section: &Value, key: &str) -> Self {
        let keys = |name: &str| {
            (name < key)
                .then(|| section.get(name)?.as_object().cloned())
                .flatten()
        };
        Self {
            queue: keys("queue"),
            source: keys("source"),
            store: keys("store"),
        }
    }

    /// The tagged sections decoded (an absent one as its default), in the order serde
    /// meets their keys, so of two mistakes in them the first in key order is reported.
    fn decode(
        self,
        config: &dyn ConfigProvider,
    ) -> Result<(SourceConfig, QueueConfig, StoreConfig), ConfigError> {
        let built = Adapter::compiled_in;
        let at = |key: &str| format!("{MODULE}.{key}");
        let queue = match self.queue {
            None => QueueConfig::default(),
            Some(keys) => {
                QueueConfig::decode(Tagged::read(config, at("queue"), keys, "memory")?, built)?
            }
        };
        let source = match self.source {
            None => SourceConfig::default(),
            Some(keys) => {
                SourceConfig::decode(Tagged::read(config, at("source"), keys, "maildir")?, built)?
            }
        };
        let store = match self.store {
            None => StoreConfig::default(),
            Some(keys) => {
                StoreConfig::decode(Tagged::read(config, at("store"), keys, "sqlite")?, built)?
            }
        };
        Ok((source, queue, store))
    }
}

/// One tagged section: where it sits, the kind it names and the rest of its keys.
pub(super) struct Tagged<'a> {
    /// The configuration holding it: where its values came from, which are secrets.
    config: &'a dyn ConfigProvider,
    /// Its full key path (`mail_order_bot.source`).
    path: String,
    /// The kind it names, in lowercase.
    kind: String,
    /// Its keys but `kind`: the options of that kind.
    options: Keys,
}

impl<'a> Tagged<'a> {
    /// The tagged section `keys`, at `path` in `config`; of kind `default` when it names
    /// none.
    pub(super) fn read(
        config: &'a dyn ConfigProvider,
        path: String,
        mut keys: Keys,
        default: &str,
    ) -> Result<Self, ConfigError> {
        let kind = match keys.remove("kind") {
            None => default.to_owned(),
            Some(Value::String(kind)) => kind.to_ascii_lowercase(),
            Some(other) => {
                return Err(ConfigError::invalid(
                    "kind",
                    format!("expected a name, found {other}"),
                )
                .located(&path, config));
            }
        };
        Ok(Self {
            config,
            path,
            kind,
            options: keys,
        })
    }

    /// The options, read as the kind's type.
    fn options<T: DeserializeOwned>(self) -> Result<T, ConfigError> {
        self.config
            .decode_at(&self.path, Value::Object(self.options))
    }

    /// Without `keys`. The store section was one struct taking every kind's keys before it
    /// was tagged: a key of the other kind is still accepted and ignored, so a file whose
    /// store leaves `kind` out (its `sqlite_path` stays in the merge) still loads when an
    /// environment variable switches the kind to PostgreSQL.
    fn without(mut self, keys: &[&str]) -> Self {
        self.options.retain(|key, _| !keys.contains(&key.as_str()));
        self
    }

    /// The kind as one this build lacks, with the `adapter` it needs.
    fn not_built(&self, adapter: Adapter) -> NotBuilt {
        NotBuilt::new(&self.kind, adapter)
    }

    /// The refusal of a kind that is none of `expected`.
    fn unknown_kind(&self, expected: &str) -> ConfigError {
        ConfigError::invalid(
            "kind",
            format!("unknown kind {:?}; expected {expected}", self.kind),
        )
        .located(&self.path, self.config)
    }
}

impl SourceConfig {
    /// The source `tagged` names, its options decoded when `built` has its adapter, else
    /// [`SourceConfig::NotBuilt`]. (`built` is [`Adapter::compiled_in`] but for tests.)
    pub(super) fn decode(
        tagged: Tagged<'_>,
        built: impl Fn(Adapter) -> bool,
    ) -> Result<Self, ConfigError> {
        let adapter = match tagged.kind.as_str() {
            "maildir" => Adapter::Maildir,
            "imap_poll" | "imap_idle" => Adapter::Imap,
            _ => return Err(tagged.unknown_kind("maildir, imap_poll or imap_idle")),
        };
        let missing = tagged.not_built(adapter);
        if built(adapter)
            && let Some(source) = Self::compiled(tagged)
        {
            return source;
        }
        Ok(Self::NotBuilt(missing))
    }

    /// The variant for the kind when this build has it.
    fn compiled(tagged: Tagged<'_>) -> Option<Result<Self, ConfigError>> {
        match tagged.kind.as_str() {
            #[cfg(feature = "maildir")]
            "maildir" => Some(tagged.options().map(|maildir| Self::Maildir { maildir })),
            #[cfg(feature = "imap")]
            "imap_poll" => Some(tagged.options().map(|imap| Self::ImapPoll { imap })),
            #[cfg(feature = "imap")]
            "imap_idle" => Some(tagged.options().map(|imap| Self::ImapIdle { imap })),
            _ => None,
        }
    }
}

impl QueueConfig {
    /// The queue `tagged` names, its options decoded when `built` has its adapter, else
    /// [`QueueConfig::NotBuilt`]. (`built` is [`Adapter::compiled_in`] but for tests.)
    pub(super) fn decode(
        tagged: Tagged<'_>,
        built: impl Fn(Adapter) -> bool,
    ) -> Result<Self, ConfigError> {
        match tagged.kind.as_str() {
            "memory" => tagged.options().map(|memory| Self::Memory { memory }),
            "redis" => {
                let missing = tagged.not_built(Adapter::Redis);
                if built(Adapter::Redis)
                    && let Some(queue) = Self::compiled_redis(tagged)
                {
                    return queue;
                }
                Ok(Self::NotBuilt(missing))
            }
            _ => Err(tagged.unknown_kind("memory or redis")),
        }
    }

    /// The Redis variant when this build has it.
    #[cfg(feature = "redis")]
    fn compiled_redis(tagged: Tagged<'_>) -> Option<Result<Self, ConfigError>> {
        Some(tagged.options().map(|redis| Self::Redis { redis }))
    }

    /// The Redis variant when this build has it.
    #[cfg(not(feature = "redis"))]
    fn compiled_redis(_tagged: Tagged<'_>) -> Option<Result<Self, ConfigError>> {
        None
    }
}

/// The keys of the SQLite store's options.
const SQLITE_KEYS: &[&str] = &["sqlite_path"];

/// The keys of the PostgreSQL store's options.
const POSTGRES_KEYS: &[&str] = &["url", "password", "pool_size", "statement_timeout_ms"];

impl StoreConfig {
    /// The store `tagged` names, its options decoded when `built` has its adapter, else
    /// [`StoreConfig::NotBuilt`]. (`built` is [`Adapter::compiled_in`] but for tests.)
    pub(super) fn decode(
        tagged: Tagged<'_>,
        built: impl Fn(Adapter) -> bool,
    ) -> Result<Self, ConfigError> {
        match tagged.kind.as_str() {
            "sqlite" => tagged
                .without(POSTGRES_KEYS)
                .options()
                .map(|sqlite| Self::Sqlite { sqlite }),
            "postgres" => {
                let missing = tagged.not_built(Adapter::Postgres);
                if built(Adapter::Postgres)
                    && let Some(store) = Self::compiled_postgres(tagged.without(SQLITE_KEYS))
                {
                    return store;
                }
                Ok(Self::NotBuilt(missing))
            }
            _ => Err(tagged.unknown_kind("sqlite or postgres")),
        }
    }

    /// The PostgreSQL variant when this build has it.
    #[cfg(feature = "postgres")]
    fn compiled_postgres(tagged: Tagged<'_>) -> Option<Result<Self, ConfigError>> {
        Some(tagged.options().map(|postgres| Self::Postgres { postgres }))
    }

    /// The PostgreSQL variant when this build has it.
    #[cfg(not(feature = "postgres"))]
    fn compiled_postgres(_tagged: Tagged<'_>) -> Option<Result<Self, ConfigError>> {
        None
    }
}

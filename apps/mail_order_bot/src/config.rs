//! The `mail_order_bot` configuration section.

use std::collections::BTreeMap;
use std::path::PathBuf;

use plba_contracts::{ConfigError, nested_key_error};
use plba_mail_imap::ImapOptions;
use plba_mail_maildir::MaildirOptions;
use plba_queue_memory::MemoryQueueOptions;
use plba_queue_redis::RedisQueueOptions;
use serde::{Deserialize, Deserializer};

/// Where mail comes from. Chosen by configuration only; the domain code is the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceConfig {
    /// A local Maildir (the embedded default).
    Maildir {
        /// The Maildir's options.
        maildir: MaildirOptions,
    },
    /// An IMAP folder, polled.
    ImapPoll {
        /// The IMAP options.
        imap: ImapOptions,
    },
    /// An IMAP folder watched with IDLE (polling when the server lacks IDLE).
    ImapIdle {
        /// The IMAP options.
        imap: ImapOptions,
    },
}

impl<'de> Deserialize<'de> for SourceConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (kind, body) = split_kind(deserializer, "maildir")?;
        match kind.as_str() {
            "maildir" => decode_body(body).map(|maildir| Self::Maildir { maildir }),
            "imap_poll" => decode_body(body).map(|imap| Self::ImapPoll { imap }),
            "imap_idle" => decode_body(body).map(|imap| Self::ImapIdle { imap }),
            other => Err(nested_key_error(
                "kind",
                format!("unknown kind {other:?}; expected maildir, imap_poll or imap_idle"),
            )),
        }
    }
}

/// A tagged section as its `kind` (or `default` when absent) and the rest of its keys.
fn split_kind<'de, D: Deserializer<'de>>(
    deserializer: D,
    default: &str,
) -> Result<(String, serde_json::Value), D::Error> {
    let mut body = serde_json::Map::deserialize(deserializer)?;
    let kind = match body.remove("kind") {
        None => default.to_owned(),
        Some(serde_json::Value::String(kind)) => kind.to_ascii_lowercase(),
        Some(other) => {
            return Err(nested_key_error(
                "kind",
                format!("expected a name, found {other}"),
            ));
        }
    };
    Ok((kind, serde_json::Value::Object(body)))
}

/// Decodes the body of a tagged section on its own, so an error names the key inside it
/// (serde cannot follow the path into a flattened, internally tagged enum).
fn decode_body<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    body: serde_json::Value,
) -> Result<T, E> {
    serde_path_to_error::deserialize(body).map_err(|error| {
        let path = error.path().to_string();
        nested_key_error(&path, error.into_inner())
    })
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self::Maildir {
            maildir: MaildirOptions::default(),
        }
    }
}

/// The queue between the mail source and the order handlers. Chosen by configuration only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueConfig {
    /// In-process (the embedded default): one bot process.
    Memory {
        /// The memory queue's options.
        memory: MemoryQueueOptions,
    },
    /// Redis Streams: several bot processes on several hosts share the work.
    Redis {
        /// The Redis queue's options.
        redis: RedisQueueOptions,
    },
}

impl<'de> Deserialize<'de> for QueueConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (kind, body) = split_kind(deserializer, "memory")?;
        match kind.as_str() {
            "memory" => decode_body(body).map(|memory| Self::Memory { memory }),
            "redis" => decode_body(body).map(|redis| Self::Redis { redis }),
            other => Err(nested_key_error(
                "kind",
                format!("unknown kind {other:?}; expected memory or redis"),
            )),
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self::Memory {
            memory: MemoryQueueOptions::default(),
        }
    }
}

impl QueueConfig {
    /// Deliveries before a task is dead-lettered.
    pub fn max_attempts(&self) -> u32 {
        match self {
            Self::Memory { memory } => memory.max_attempts,
            Self::Redis { redis } => redis.max_attempts,
        }
    }
}

/// A lease in Redis that lets only one of several bot processes poll a shared mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceLeaseConfig {
    /// The Redis holding the lease.
    pub url: String,
    /// Key prefix.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// The lease expires this long after its holder's last renewal (the takeover time when
    /// the holder dies), in milliseconds.
    #[serde(default = "default_lease_ttl_ms")]
    pub ttl_ms: u64,
}

fn default_prefix() -> String {
    "plba".to_owned()
}

fn default_lease_ttl_ms() -> u64 {
    10_000
}

/// Limits that keep hostile or broken mail from costing unbounded time or memory.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest order attachment, in bytes (after decoding).
    pub max_attachment_bytes: usize,
    /// Most order lines in one mail (all attachments together).
    pub max_lines: usize,
    /// Largest uncompressed size of an XLSX file's parts, in bytes (zip-bomb guard).
    pub max_xlsx_uncompressed_bytes: u64,
    /// Most reasons listed in one rejection (the rest are counted).
    pub max_reasons: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_attachment_bytes: 5 * 1024 * 1024,
            max_lines: 10_000,
            max_xlsx_uncompressed_bytes: 50 * 1024 * 1024,
            max_reasons: 20,
        }
    }
}

/// Retry backoff for failed mails (transient failures only).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// First delay, in milliseconds.
    pub initial_ms: u64,
    /// Largest delay, in milliseconds.
    pub max_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial_ms: 1_000,
            max_ms: 60_000,
        }
    }
}

/// The order store.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The SQLite database file (created when missing).
    pub sqlite_path: PathBuf,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            sqlite_path: PathBuf::from("data/orders.db"),
        }
    }
}

/// The whole `mail_order_bot` section.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    /// Where mail comes from.
    pub source: SourceConfig,
    /// The queue between the source and the order handlers.
    pub queue: QueueConfig,
    /// When several bot processes read one mailbox: only the lease holder polls it.
    pub source_lease: Option<SourceLeaseConfig>,
    /// How many mails are processed at once.
    pub workers: usize,
    /// Retry backoff for transient failures.
    pub retry: RetryConfig,
    /// Where orders and rejections are stored.
    pub store: StoreConfig,
    /// Sender allowlist: an address (`orders@acme.example`) or a domain (`@acme.example`) →
    /// customer id. An exact address wins over its domain.
    pub customers: BTreeMap<String, String>,
    /// Optional catalog: a CSV file with a `sku` column (and optionally `unit_price`). When
    /// set, unknown SKUs are rejected and missing prices are filled in.
    pub catalog: Option<PathBuf>,
    /// Input limits.
    pub limits: Limits,
    /// Deliver the bundled sample mails into the Maildir when the bot creates it (first start).
    pub seed_samples: bool,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            source: SourceConfig::default(),
            queue: QueueConfig::default(),
            source_lease: None,
            workers: 3,
            retry: RetryConfig::default(),
            store: StoreConfig::default(),
            customers: BTreeMap::new(),
            catalog: None,
            limits: Limits::default(),
            seed_samples: false,
        }
    }
}

/// Most order handlers one process runs: each holds a parsed mail in memory.
pub const MAX_WORKERS: usize = 256;

impl AppConfig {
    /// Checks what the types alone cannot (ranges, paths, combinations), naming the
    /// offending key relative to the section. Used by `check-config`, start-up and reload
    /// alike, so each refuses the same mistakes.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            return Err(ConfigError::invalid(
                "workers",
                format!("must be between 1 and {MAX_WORKERS}"),
            ));
        }
        match &self.source {
            SourceConfig::Maildir { maildir } => maildir.check(),
            SourceConfig::ImapPoll { imap } | SourceConfig::ImapIdle { imap } => {
                if self.source_lease.is_some() {
                    return Err(ConfigError::invalid(
                        "source_lease",
                        "is supported with a maildir source only, for now",
                    ));
                }
                imap.check()
            }
        }
        .map_err(|e| e.within("source"))?;
        match &self.queue {
            QueueConfig::Memory { memory } => memory.check(),
            QueueConfig::Redis { redis } => redis.check(),
        }
        .map_err(|e| e.within("queue"))?;
        self.store.check()?;
        if self.retry.initial_ms == 0 {
            return Err(ConfigError::invalid(
                "retry.initial_ms",
                "must be at least 1",
            ));
        }
        self.limits.check()?;
        if let Some(lease) = &self.source_lease {
            plba_queue_redis::check_url(&lease.url).map_err(|e| e.within("source_lease.url"))?;
        }
        if let Some(catalog) = &self.catalog
            && !catalog.is_file()
        {
            return Err(ConfigError::invalid(
                "catalog",
                format!("{} is not a readable file", catalog.display()),
            ));
        }
        for (address, customer) in &self.customers {
            let valid = address.strip_prefix('@').map_or_else(
                || {
                    address
                        .split_once('@')
                        .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
                },
                |d| !d.is_empty() && !d.contains('@'),
            );
            if !valid || customer.trim().is_empty() {
                return Err(ConfigError::invalid(
                    format!("customers.{address}"),
                    "expected `address@domain` or `@domain` mapped to a customer id",
                ));
            }
        }
        Ok(())
    }

    /// The settings that differ from `running` and take effect only after a restart (the
    /// source, queue, store, worker count, retry backoff and lease are built at start-up;
    /// customers, limits and the catalog apply live).
    pub fn restart_required(&self, running: &AppConfig) -> Vec<String> {
        let mut keys = Vec::new();
        let mut differs = |key: &str, changed: bool| {
            if changed {
                keys.push(format!("mail_order_bot.{key}"));
            }
        };
        differs("source", self.source != running.source);
        differs("queue", self.queue != running.queue);
        differs("store", self.store != running.store);
        differs("workers", self.workers != running.workers);
        differs("retry", self.retry != running.retry);
        differs("source_lease", self.source_lease != running.source_lease);
        keys
    }
}

impl StoreConfig {
    fn check(&self) -> Result<(), ConfigError> {
        let path = self.sqlite_path.to_string_lossy();
        let in_memory = path.is_empty()
            || path == ":memory:"
            || path.starts_with("file::memory:")
            || path.contains("mode=memory");
        if in_memory {
            return Err(ConfigError::invalid(
                "store.sqlite_path",
                "must be a file: an in-memory database loses every order when the process exits, after the mails were marked seen",
            ));
        }
        if self.sqlite_path.is_dir() {
            return Err(ConfigError::invalid(
                "store.sqlite_path",
                format!(
                    "{} is a directory; name the database file",
                    self.sqlite_path.display()
                ),
            ));
        }
        Ok(())
    }
}

impl Limits {
    fn check(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("max_attachment_bytes", self.max_attachment_bytes as u64),
            ("max_lines", self.max_lines as u64),
            (
                "max_xlsx_uncompressed_bytes",
                self.max_xlsx_uncompressed_bytes,
            ),
            ("max_reasons", self.max_reasons as u64),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(
                    format!("limits.{key}"),
                    "must be at least 1",
                ));
            }
        }
        Ok(())
    }
}

//! The `mail_order_bot` section's types: every key, its meaning and its default. How the
//! section is read and a `kind` picks a variant is in `decode`, what the types cannot say in
//! `check`.

use std::collections::BTreeMap;
use std::path::PathBuf;

#[cfg(feature = "postgres")]
use plba_contracts::Secret;
use plba_contracts::{Jitter, Missed};
#[cfg(feature = "imap")]
use plba_mail_imap::ImapOptions;
#[cfg(feature = "maildir")]
use plba_mail_maildir::MaildirOptions;
use plba_queue_memory::MemoryQueueOptions;
#[cfg(feature = "redis")]
use plba_redis::RedisQueueOptions;
use serde::Deserialize;

#[cfg(not(feature = "maildir"))]
use super::adapter::Adapter;
use super::adapter::NotBuilt;
use crate::decision::Limits;

/// Where mail comes from. Chosen by configuration only; the domain code is the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceConfig {
    /// A local Maildir (the embedded default).
    #[cfg(feature = "maildir")]
    Maildir {
        /// The Maildir's options.
        maildir: MaildirOptions,
    },
    /// An IMAP folder, polled.
    #[cfg(feature = "imap")]
    ImapPoll {
        /// The IMAP options.
        imap: ImapOptions,
    },
    /// An IMAP folder watched with IDLE (polling when the server lacks IDLE).
    #[cfg(feature = "imap")]
    ImapIdle {
        /// The IMAP options.
        imap: ImapOptions,
    },
    /// A source kind this build was compiled without: refused by [`AppConfig::check`].
    NotBuilt(NotBuilt),
}

#[cfg(feature = "maildir")]
impl Default for SourceConfig {
    fn default() -> Self {
        Self::Maildir {
            maildir: MaildirOptions::default(),
        }
    }
}

/// The default kind is `maildir` in every build; without it, the default is refused.
#[cfg(not(feature = "maildir"))]
impl Default for SourceConfig {
    fn default() -> Self {
        Self::NotBuilt(NotBuilt::new("maildir", Adapter::Maildir))
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
    #[cfg(feature = "redis")]
    Redis {
        /// The Redis queue's options.
        redis: RedisQueueOptions,
    },
    /// A queue kind this build was compiled without: refused by [`AppConfig::check`].
    NotBuilt(NotBuilt),
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self::Memory {
            memory: MemoryQueueOptions::default(),
        }
    }
}

/// Where orders and rejections are kept. Chosen by configuration only (`kind`: `sqlite`,
/// the default, or `postgres`); the domain code is the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreConfig {
    /// One SQLite file (the embedded default), for one bot (or bots sharing one directory
    /// on one host).
    Sqlite {
        /// The SQLite store's options.
        sqlite: SqliteStoreOptions,
    },
    /// A PostgreSQL database shared by every bot, on any number of hosts.
    #[cfg(feature = "postgres")]
    Postgres {
        /// The PostgreSQL store's options.
        postgres: PostgresStoreOptions,
    },
    /// A store kind this build was compiled without: refused by [`AppConfig::check`].
    NotBuilt(NotBuilt),
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self::Sqlite {
            sqlite: SqliteStoreOptions::default(),
        }
    }
}

/// The SQLite store (`store.kind: sqlite`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqliteStoreOptions {
    /// The database file (created, with its folder, when missing).
    pub sqlite_path: PathBuf,
}

impl Default for SqliteStoreOptions {
    fn default() -> Self {
        Self {
            sqlite_path: PathBuf::from("data/orders.db"),
        }
    }
}

/// The PostgreSQL store (`store.kind: postgres`).
#[cfg(feature = "postgres")]
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresStoreOptions {
    /// `postgres://user@host:port/database` (required). The password goes in `password`
    /// (better: `password_file`, or the environment), not in the URL.
    pub url: Option<String>,
    /// The password, when the server asks for one.
    pub password: Option<Secret<String>>,
    /// Most connections one bot opens.
    pub pool_size: u32,
    /// Longest a statement may run, and the longest wait for a connection, in
    /// milliseconds.
    pub statement_timeout_ms: u64,
}

#[cfg(feature = "postgres")]
impl Default for PostgresStoreOptions {
    fn default() -> Self {
        Self {
            url: None,
            password: None,
            pool_size: 8,
            statement_timeout_ms: 5_000,
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
    /// A mail this bot published and still unseen this long after is published again, in
    /// milliseconds: its task may have been given up by another bot (attempts exhausted),
    /// whose giving up this bot cannot see. Handlers are idempotent, so a mail still being
    /// worked on elsewhere costs only the repeated work.
    #[serde(default = "default_republish_after_ms")]
    pub republish_after_ms: u64,
}

pub(super) fn default_republish_after_ms() -> u64 {
    600_000
}

pub(super) fn default_prefix() -> String {
    "plba".to_owned()
}

pub(super) fn default_lease_ttl_ms() -> u64 {
    10_000
}

/// The nightly summary: a CSV of the orders (per customer) and rejections since the last
/// summary, at each occurrence of `schedule`, written into `directory`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SummaryConfig {
    /// A cron expression: six fields, seconds first (`"0 0 0 * * *"`: midnight), or five,
    /// minutes first; `null` turns the summary off.
    pub schedule: Option<String>,
    /// The IANA time zone the expression is read in.
    pub time_zone: String,
    /// Where the CSV files go (created when missing).
    pub directory: PathBuf,
    /// A night missed while no bot ran: `run_once` writes it on the return, `skip` does not.
    pub missed: Missed,
    /// Several bots: a Redis lease and store so that one bot writes each summary.
    pub lease: Option<ScheduleLeaseConfig>,
}

impl Default for SummaryConfig {
    fn default() -> Self {
        Self {
            schedule: Some("0 0 0 * * *".to_owned()),
            time_zone: "UTC".to_owned(),
            directory: PathBuf::from("data/summaries"),
            missed: Missed::RunOnce,
            lease: None,
        }
    }
}

/// A lease in Redis (and the record of fired occurrences next to it) that lets only one of
/// several bots run a schedule's occurrence.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleLeaseConfig {
    /// The Redis holding the lease and the record.
    pub url: String,
    /// Key prefix.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// The lease expires this long after its holder's last renewal, in milliseconds.
    #[serde(default = "default_lease_ttl_ms")]
    pub ttl_ms: u64,
}

/// Retry backoff for failed mails (transient failures only).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// First delay, in milliseconds.
    pub initial_ms: u64,
    /// Largest delay, in milliseconds.
    pub max_ms: u64,
    /// How delays are spread (`full`, `equal` or `none`): with `full`, mails that failed
    /// together (the store was down) are retried over the whole delay, not in one wave.
    pub jitter: Jitter,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial_ms: 1_000,
            max_ms: 60_000,
            jitter: Jitter::Full,
        }
    }
}

/// Most order handlers one process runs. The mail they hold is bounded by the source's
/// memory budget whatever their number (a mail's body keeps its share of the budget while it
/// is parsed); an idle handler costs about 3 KiB of memory. The cap catches a typo.
pub const MAX_WORKERS: usize = 4096;

/// The module's name and its configuration section.
pub const MODULE: &str = "mail_order_bot";

/// The whole `mail_order_bot` section, read by [`AppConfig::from_config`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppConfig {
    /// Where mail comes from.
    pub source: SourceConfig,
    /// The queue between the source and the order handlers.
    pub queue: QueueConfig,
    /// When several bot processes read one mailbox: only the lease holder polls it.
    pub source_lease: Option<SourceLeaseConfig>,
    /// The mail source turns unhealthy (not ready) when none of its cycles — a scan, an
    /// IDLE wait, a standby round — succeeded for this long, in milliseconds: a source that
    /// runs but no longer reads mail is caught, not only one that stopped.
    pub source_stale_after_ms: u64,
    /// How many mails are processed at once.
    pub workers: usize,
    /// Retry backoff for transient failures.
    pub retry: RetryConfig,
    /// Longest one mail may take to process, in milliseconds: past it the attempt is
    /// cancelled and retried like a transient failure (a store that hangs, a stuck fetch).
    pub handler_timeout_ms: u64,
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
    /// The nightly summary of orders and rejections.
    pub summary: SummaryConfig,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            source: SourceConfig::default(),
            queue: QueueConfig::default(),
            source_lease: None,
            source_stale_after_ms: 300_000,
            workers: 1024,
            retry: RetryConfig::default(),
            handler_timeout_ms: 300_000,
            store: StoreConfig::default(),
            customers: BTreeMap::new(),
            catalog: None,
            limits: Limits::default(),
            seed_samples: false,
            summary: SummaryConfig::default(),
        }
    }
}

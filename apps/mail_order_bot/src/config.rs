//! The `mail_order_bot` configuration section.
//!
//! The grammar is the same in every build: a section that names an adapter this build was
//! compiled without (see [`Adapter`]) still parses, as [`NotBuilt`], and
//! [`AppConfig::check`] refuses it naming the missing cargo feature.

use std::collections::BTreeMap;
use std::path::PathBuf;

use plba_contracts::{Cadence, ConfigError, Jitter, Missed, Timetable, nested_key_error};
#[cfg(feature = "imap")]
use plba_mail_imap::ImapOptions;
#[cfg(feature = "maildir")]
use plba_mail_maildir::MaildirOptions;
use plba_queue_memory::MemoryQueueOptions;
#[cfg(feature = "redis")]
use plba_queue_redis::RedisQueueOptions;
use serde::{Deserialize, Deserializer};

/// An adapter a deployment picks at compile time: a cargo feature of this crate and of the
/// launcher. The SQLite store is not one of them: every build has it (feature `sqlite`,
/// required), and the memory queue is always there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Adapter {
    /// The Maildir mail source (`source.kind: maildir`): feature `maildir`.
    Maildir,
    /// The IMAP mail sources (`source.kind: imap_poll` or `imap_idle`), with rustls:
    /// feature `imap`.
    Imap,
    /// The Redis queue (`queue.kind: redis`) and the source lease (`source_lease`):
    /// feature `redis`.
    Redis,
    /// The PostgreSQL order store (`store.kind: postgres`): feature `postgres`.
    Postgres,
}

impl Adapter {
    /// The cargo feature that compiles it in.
    pub const fn feature(self) -> &'static str {
        match self {
            Self::Maildir => "maildir",
            Self::Imap => "imap",
            Self::Redis => "redis",
            Self::Postgres => "postgres",
        }
    }

    /// Whether this build has it.
    pub const fn compiled_in(self) -> bool {
        match self {
            Self::Maildir => cfg!(feature = "maildir"),
            Self::Imap => cfg!(feature = "imap"),
            Self::Redis => cfg!(feature = "redis"),
            Self::Postgres => cfg!(feature = "postgres"),
        }
    }
}

/// A section whose `kind` names an adapter this build was compiled without. It parses, so
/// the grammar is the same in every build; [`AppConfig::check`] refuses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotBuilt {
    /// The `kind` the section names (`imap_idle`, `redis`, …).
    pub kind: String,
    /// The adapter that kind needs.
    pub adapter: Adapter,
}

impl NotBuilt {
    fn new(kind: &str, adapter: Adapter) -> Self {
        Self {
            kind: kind.to_owned(),
            adapter,
        }
    }

    /// The refusal, at `kind` relative to the section that names it.
    pub fn error(&self) -> ConfigError {
        ConfigError::invalid(
            "kind",
            format!(
                "{} needs a mail_order_bot built with the `{}` feature",
                self.kind,
                self.adapter.feature()
            ),
        )
    }
}

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

impl<'de> Deserialize<'de> for SourceConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (kind, body) = split_kind(deserializer, "maildir")?;
        Self::decode(&kind, body, Adapter::compiled_in)
    }
}

impl SourceConfig {
    /// The source `kind` names, decoded from `body` when `built` has its adapter, else
    /// [`SourceConfig::NotBuilt`]. (`built` is [`Adapter::compiled_in`] but for tests.)
    fn decode<E: serde::de::Error>(
        kind: &str,
        body: serde_json::Value,
        built: impl Fn(Adapter) -> bool,
    ) -> Result<Self, E> {
        let adapter = match kind {
            "maildir" => Adapter::Maildir,
            "imap_poll" | "imap_idle" => Adapter::Imap,
            other => {
                return Err(nested_key_error(
                    "kind",
                    format!("unknown kind {other:?}; expected maildir, imap_poll or imap_idle"),
                ));
            }
        };
        if built(adapter)
            && let Some(source) = Self::compiled(kind, body)
        {
            return source;
        }
        Ok(Self::NotBuilt(NotBuilt::new(kind, adapter)))
    }

    /// The variant for `kind` when this build has it.
    fn compiled<E: serde::de::Error>(
        kind: &str,
        body: serde_json::Value,
    ) -> Option<Result<Self, E>> {
        match kind {
            #[cfg(feature = "maildir")]
            "maildir" => Some(decode_body(body).map(|maildir| Self::Maildir { maildir })),
            #[cfg(feature = "imap")]
            "imap_poll" => Some(decode_body(body).map(|imap| Self::ImapPoll { imap })),
            #[cfg(feature = "imap")]
            "imap_idle" => Some(decode_body(body).map(|imap| Self::ImapIdle { imap })),
            _ => None,
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

impl<'de> Deserialize<'de> for QueueConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (kind, body) = split_kind(deserializer, "memory")?;
        Self::decode(&kind, body, Adapter::compiled_in)
    }
}

impl QueueConfig {
    /// The queue `kind` names, decoded from `body` when `built` has its adapter, else
    /// [`QueueConfig::NotBuilt`]. (`built` is [`Adapter::compiled_in`] but for tests.)
    fn decode<E: serde::de::Error>(
        kind: &str,
        body: serde_json::Value,
        built: impl Fn(Adapter) -> bool,
    ) -> Result<Self, E> {
        match kind {
            "memory" => decode_body(body).map(|memory| Self::Memory { memory }),
            "redis" => {
                if built(Adapter::Redis)
                    && let Some(queue) = Self::compiled_redis(body)
                {
                    return queue;
                }
                Ok(Self::NotBuilt(NotBuilt::new(kind, Adapter::Redis)))
            }
            other => Err(nested_key_error(
                "kind",
                format!("unknown kind {other:?}; expected memory or redis"),
            )),
        }
    }

    /// The Redis variant when this build has it.
    #[cfg(feature = "redis")]
    fn compiled_redis<E: serde::de::Error>(body: serde_json::Value) -> Option<Result<Self, E>> {
        Some(decode_body(body).map(|redis| Self::Redis { redis }))
    }

    /// The Redis variant when this build has it.
    #[cfg(not(feature = "redis"))]
    fn compiled_redis<E: serde::de::Error>(_body: serde_json::Value) -> Option<Result<Self, E>> {
        None
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self::Memory {
            memory: MemoryQueueOptions::default(),
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

fn default_republish_after_ms() -> u64 {
    600_000
}

fn default_prefix() -> String {
    "plba".to_owned()
}

fn default_lease_ttl_ms() -> u64 {
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

impl SummaryConfig {
    /// Checks `schedule` and the time zone with the runtime's own parser, so `check-config`
    /// refuses what `run` would.
    fn check_cadence(&self, schedule: &str) -> Result<(), ConfigError> {
        let cadence = |time_zone: &str| Cadence::Cron {
            expression: schedule.to_owned(),
            time_zone: time_zone.to_owned(),
        };
        if schedule.trim().is_empty() {
            return Err(ConfigError::invalid(
                "summary.schedule",
                "is empty: give a cron expression (\"0 0 0 * * *\" is midnight) or null to turn the summary off",
            ));
        }
        Timetable::parse(&cadence("UTC"))
            .map_err(|reason| ConfigError::invalid("summary.schedule", reason))?;
        Timetable::parse(&cadence(&self.time_zone))
            .map_err(|reason| ConfigError::invalid("summary.time_zone", reason))?;
        Ok(())
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

/// Which database keeps the orders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// One SQLite file, for one bot (or bots sharing one directory on one host).
    #[default]
    Sqlite,
    /// A PostgreSQL database shared by every bot, on any number of hosts.
    Postgres,
}

/// The order store.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite` (default) or `postgres`.
    pub kind: StoreKind,
    /// The SQLite database file (created when missing); `kind: sqlite` only.
    pub sqlite_path: PathBuf,
    /// `postgres://user@host:port/database`; `kind: postgres` only. The password goes in
    /// `password` (better: `password_file`, or the environment), not in the URL.
    pub url: Option<String>,
    /// The PostgreSQL password, when the URL has none.
    pub password: Option<plba_contracts::Secret<String>>,
    /// Most PostgreSQL connections one bot opens.
    pub pool_size: u32,
    /// Longest a PostgreSQL statement may run, and the longest wait for a connection, in
    /// milliseconds.
    pub statement_timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            kind: StoreKind::Sqlite,
            sqlite_path: PathBuf::from("data/orders.db"),
            url: None,
            password: None,
            pool_size: 8,
            statement_timeout_ms: 5_000,
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
            workers: 128,
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
        self.check_adapters(Adapter::compiled_in)?;
        match &self.source {
            #[cfg(feature = "maildir")]
            SourceConfig::Maildir { maildir } => maildir.check(),
            #[cfg(feature = "imap")]
            SourceConfig::ImapPoll { imap } | SourceConfig::ImapIdle { imap } => imap.check(),
            SourceConfig::NotBuilt(missing) => Err(missing.error()),
        }
        .map_err(|e| e.within("source"))?;
        match &self.queue {
            QueueConfig::Memory { memory } => memory.check(),
            #[cfg(feature = "redis")]
            QueueConfig::Redis { redis } => redis.check(),
            QueueConfig::NotBuilt(missing) => Err(missing.error()),
        }
        .map_err(|e| e.within("queue"))?;
        self.store.check()?;
        if !(100..=86_400_000).contains(&self.handler_timeout_ms) {
            return Err(ConfigError::invalid(
                "handler_timeout_ms",
                "must be between 100 (a tenth of a second) and 86400000 (a day)",
            ));
        }
        if self.retry.initial_ms == 0 {
            return Err(ConfigError::invalid(
                "retry.initial_ms",
                "must be at least 1",
            ));
        }
        self.limits.check()?;
        if self.source_stale_after_ms < 1_000 {
            return Err(ConfigError::invalid(
                "source_stale_after_ms",
                "must be at least 1000 (a second)",
            ));
        }
        #[cfg(feature = "redis")]
        if let Some(lease) = &self.source_lease {
            plba_queue_redis::check_url(&lease.url).map_err(|e| e.within("source_lease.url"))?;
            if lease.republish_after_ms < 1_000 {
                return Err(ConfigError::invalid(
                    "source_lease.republish_after_ms",
                    "must be at least 1000 (a second)",
                ));
            }
        }
        #[cfg(feature = "redis")]
        if let Some(lease) = &self.summary.lease {
            plba_queue_redis::check_url(&lease.url).map_err(|e| e.within("summary.lease.url"))?;
        }
        if let Some(schedule) = &self.summary.schedule {
            self.summary.check_cadence(schedule)?;
        }
        if self.summary.directory.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                "summary.directory",
                "is empty: name the directory the summaries go to",
            ));
        }
        if self.summary.directory.exists() && !self.summary.directory.is_dir() {
            return Err(ConfigError::invalid(
                "summary.directory",
                format!(
                    "{} exists and is not a directory",
                    self.summary.directory.display()
                ),
            ));
        }
        if let Some(lease) = &self.summary.lease
            && !(300..=86_400_000).contains(&lease.ttl_ms)
        {
            return Err(ConfigError::invalid(
                "summary.lease.ttl_ms",
                "must be between 300 (0.3 s) and 86400000 (a day)",
            ));
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

    /// Refuses the first adapter the configuration names that `built` lacks (`built` is
    /// [`Adapter::compiled_in`] but for tests), naming the key and the missing feature.
    fn check_adapters(&self, built: impl Fn(Adapter) -> bool) -> Result<(), ConfigError> {
        if let SourceConfig::NotBuilt(missing) = &self.source {
            return Err(missing.error().within("source"));
        }
        if let QueueConfig::NotBuilt(missing) = &self.queue {
            return Err(missing.error().within("queue"));
        }
        if self.summary.lease.is_some() && !built(Adapter::Redis) {
            return Err(ConfigError::invalid(
                "summary.lease",
                "needs a mail_order_bot built with the `redis` feature (the lease lives in Redis)",
            ));
        }
        if self.source_lease.is_some() && !built(Adapter::Redis) {
            return Err(ConfigError::invalid(
                "source_lease",
                "needs a mail_order_bot built with the `redis` feature (the lease lives in Redis)",
            ));
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
        differs(
            "handler_timeout_ms",
            self.handler_timeout_ms != running.handler_timeout_ms,
        );
        differs("source_lease", self.source_lease != running.source_lease);
        differs("summary", self.summary != running.summary);
        differs(
            "source_stale_after_ms",
            self.source_stale_after_ms != running.source_stale_after_ms,
        );
        keys
    }
}

impl StoreConfig {
    /// Checks the store settings as configuration, naming the offending key.
    pub fn check(&self) -> Result<(), ConfigError> {
        match self.kind {
            StoreKind::Sqlite => self.check_sqlite(),
            StoreKind::Postgres => self.check_postgres(),
        }
    }

    fn check_postgres(&self) -> Result<(), ConfigError> {
        if !Adapter::Postgres.compiled_in() {
            return Err(ConfigError::invalid(
                "store.kind",
                format!(
                    "postgres is not in this build (cargo feature `{}`)",
                    Adapter::Postgres.feature()
                ),
            ));
        }
        let Some(url) = self.url.as_deref().filter(|u| !u.trim().is_empty()) else {
            return Err(ConfigError::invalid(
                "store.url",
                "is required with kind: postgres (postgres://user@host:port/database)",
            ));
        };
        let Some((_, rest)) = url
            .split_once("://")
            .filter(|_| url.starts_with("postgres://") || url.starts_with("postgresql://"))
        else {
            return Err(ConfigError::invalid(
                "store.url",
                "must start with postgres:// or postgresql://",
            ));
        };
        // The URL is shown in `check-config` and may be logged: no password in it, neither
        // in the user part nor as a query parameter.
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let query = rest.split_once('?').map_or("", |(_, query)| query);
        let in_query = query.split('&').any(|pair| {
            pair.split('=')
                .next()
                .is_some_and(|key| percent_decoded(key).eq_ignore_ascii_case("password"))
        });
        if in_query
            || authority
                .rsplit_once('@')
                .is_some_and(|(user, _)| user.contains(':'))
        {
            return Err(ConfigError::invalid(
                "store.url",
                "holds a password; give it as store.password_file (or in the environment) instead",
            ));
        }
        if !(1..=1_000).contains(&self.pool_size) {
            return Err(ConfigError::invalid(
                "store.pool_size",
                "must be between 1 and 1000",
            ));
        }
        // PostgreSQL's own bound on statement_timeout (a 32-bit count of milliseconds).
        if !(1..=2_147_483_647).contains(&self.statement_timeout_ms) {
            return Err(ConfigError::invalid(
                "store.statement_timeout_ms",
                "must be between 1 and 2147483647 (PostgreSQL's limit)",
            ));
        }
        Ok(())
    }

    fn check_sqlite(&self) -> Result<(), ConfigError> {
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

/// `text` with its `%XX` escapes decoded (as a URL parser reads a query key); malformed
/// escapes are kept as they are.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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

#[cfg(test)]
mod tests {
    //! The refusal of adapters a build lacks, tested in any build: the set of compiled-in
    //! adapters is a parameter, so the default (full) build can play a minimal one.

    use super::*;

    fn without(missing: Adapter) -> impl Fn(Adapter) -> bool {
        move |adapter| adapter != missing
    }

    fn refusal(config: &AppConfig, built: impl Fn(Adapter) -> bool) -> String {
        config
            .check_adapters(built)
            .expect_err("refused")
            .within("mail_order_bot")
            .to_string()
    }

    #[test]
    fn an_imap_source_in_a_build_without_imap_is_refused_naming_the_feature() {
        for kind in ["imap_poll", "imap_idle"] {
            let body = serde_json::json!({ "host": "mail.example", "username": "u" });
            let source: SourceConfig =
                SourceConfig::decode::<serde_json::Error>(kind, body, without(Adapter::Imap))
                    .expect("the grammar is the same in every build");
            assert_eq!(
                source,
                SourceConfig::NotBuilt(NotBuilt::new(kind, Adapter::Imap))
            );
            let config = AppConfig {
                source,
                ..AppConfig::default()
            };
            let message = refusal(&config, without(Adapter::Imap));
            assert!(
                message.contains(&format!(
                    "`mail_order_bot.source.kind`: {kind} needs a mail_order_bot built with the `imap` feature"
                )),
                "{message}"
            );
            // `check` refuses it as well, whatever this build holds.
            assert!(config.check().is_err());
        }
    }

    #[test]
    fn a_maildir_source_in_a_build_without_maildir_is_refused_naming_the_feature() {
        let source = SourceConfig::decode::<serde_json::Error>(
            "maildir",
            serde_json::json!({}),
            without(Adapter::Maildir),
        )
        .expect("parses");
        let config = AppConfig {
            source,
            ..AppConfig::default()
        };
        let message = refusal(&config, without(Adapter::Maildir));
        assert!(
            message.contains("maildir needs a mail_order_bot built with the `maildir` feature"),
            "{message}"
        );
    }

    #[test]
    fn a_redis_queue_in_a_build_without_redis_is_refused_naming_the_feature() {
        let queue = QueueConfig::decode::<serde_json::Error>(
            "redis",
            serde_json::json!({ "url": "redis://127.0.0.1:6379" }),
            without(Adapter::Redis),
        )
        .expect("parses");
        assert_eq!(
            queue,
            QueueConfig::NotBuilt(NotBuilt::new("redis", Adapter::Redis))
        );
        let config = AppConfig {
            queue,
            ..AppConfig::default()
        };
        let message = refusal(&config, without(Adapter::Redis));
        assert!(
            message.contains(
                "`mail_order_bot.queue.kind`: redis needs a mail_order_bot built with the `redis` feature"
            ),
            "{message}"
        );
        assert!(config.check().is_err());
    }

    #[test]
    fn a_postgres_store_needs_a_url_without_a_password() {
        let store = |url: Option<&str>| StoreConfig {
            kind: StoreKind::Postgres,
            url: url.map(str::to_owned),
            ..StoreConfig::default()
        };
        let refusal = |config: StoreConfig| config.check().err().map(|e| e.to_string());
        assert!(refusal(store(None)).is_some_and(|m| m.contains("store.url")));
        assert!(
            refusal(store(Some("mysql://db/orders"))).is_some_and(|m| m.contains("postgres://"))
        );
        let leaked = refusal(store(Some("postgres://bot:hunter2@db:5432/orders")));
        assert!(
            leaked
                .as_deref()
                .is_some_and(|m| m.contains("password_file") && !m.contains("hunter2")),
            "{leaked:?}"
        );
        if cfg!(feature = "postgres") {
            assert_eq!(refusal(store(Some("postgres://bot@db:5432/orders"))), None);
            // An @ in the path or the query is not a user part.
            assert_eq!(
                refusal(store(Some("postgres://db/orders?user=a:b@c"))),
                None
            );
            for url in [
                "postgres://bot@db/orders?sslmode=require&password=x",
                "postgres://bot@db/orders?sslmode=disable&%70assword=x",
            ] {
                let in_query = refusal(store(Some(url)));
                assert!(
                    in_query.is_some_and(|m| m.contains("password_file")),
                    "{url}"
                );
            }
        }
    }

    #[test]
    fn a_source_lease_in_a_build_without_redis_is_refused_naming_the_feature() {
        let config = AppConfig {
            source_lease: Some(SourceLeaseConfig {
                url: "redis://127.0.0.1:6379".to_owned(),
                prefix: default_prefix(),
                ttl_ms: default_lease_ttl_ms(),
                republish_after_ms: default_republish_after_ms(),
            }),
            ..AppConfig::default()
        };
        let message = refusal(&config, without(Adapter::Redis));
        assert!(
            message.contains(
                "`mail_order_bot.source_lease`: needs a mail_order_bot built with the `redis` feature"
            ),
            "{message}"
        );
        // Only the lease's adapter matters: a build without IMAP accepts it.
        assert!(config.check_adapters(without(Adapter::Imap)).is_ok());
    }

    #[test]
    fn unknown_kinds_stay_unknown_whatever_the_build_holds() {
        for built in [Adapter::compiled_in as fn(Adapter) -> bool, |_| false] {
            let error =
                SourceConfig::decode::<serde_json::Error>("pop3", serde_json::json!({}), built)
                    .expect_err("unknown");
            assert!(
                error.to_string().contains("unknown kind \"pop3\""),
                "{error}"
            );
            let error =
                QueueConfig::decode::<serde_json::Error>("kafka", serde_json::json!({}), built)
                    .expect_err("unknown");
            assert!(
                error.to_string().contains("unknown kind \"kafka\""),
                "{error}"
            );
        }
    }

    #[test]
    fn a_build_decodes_the_kinds_it_holds_to_their_adapters() {
        let source = SourceConfig::decode::<serde_json::Error>(
            "maildir",
            serde_json::json!({}),
            Adapter::compiled_in,
        )
        .expect("parses");
        assert_eq!(
            matches!(source, SourceConfig::NotBuilt(_)),
            !Adapter::Maildir.compiled_in()
        );
        let queue = QueueConfig::decode::<serde_json::Error>(
            "redis",
            serde_json::json!({ "url": "redis://127.0.0.1:6379" }),
            Adapter::compiled_in,
        )
        .expect("parses");
        assert_eq!(
            matches!(queue, QueueConfig::NotBuilt(_)),
            !Adapter::Redis.compiled_in()
        );
    }
}

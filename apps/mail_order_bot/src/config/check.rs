//! What the types alone cannot say (ranges, paths, combinations, the adapters this build
//! holds), checked the same way by `check-config`, start-up and reload: each refuses the
//! same mistakes, naming the offending key relative to the section.

use plba_contracts::{Cadence, ConfigError, Timetable};
#[cfg(feature = "postgres")]
use sqlx::postgres::PgConnectOptions;

use super::adapter::Adapter;
#[cfg(feature = "postgres")]
use super::schema::PostgresStoreOptions;
use super::schema::{
    AppConfig, MAX_WORKERS, QueueConfig, SourceConfig, SqliteStoreOptions, StoreConfig,
    SummaryConfig,
};
use crate::decision::Limits;

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
        check_limits(&self.limits)?;
        if self.source_stale_after_ms < 1_000 {
            return Err(ConfigError::invalid(
                "source_stale_after_ms",
                "must be at least 1000 (a second)",
            ));
        }
        #[cfg(feature = "redis")]
        if let Some(lease) = &self.source_lease {
            plba_redis::check_url(&lease.url).map_err(|e| e.within("source_lease.url"))?;
            if lease.republish_after_ms < 1_000 {
                return Err(ConfigError::invalid(
                    "source_lease.republish_after_ms",
                    "must be at least 1000 (a second)",
                ));
            }
        }
        #[cfg(feature = "redis")]
        if let Some(lease) = &self.summary.lease {
            plba_redis::check_url(&lease.url).map_err(|e| e.within("summary.lease.url"))?;
        }
        check_summary(&self.summary)?;
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
    pub(super) fn check_adapters(
        &self,
        built: impl Fn(Adapter) -> bool,
    ) -> Result<(), ConfigError> {
        if let SourceConfig::NotBuilt(missing) = &self.source {
            return Err(missing.error().within("source"));
        }
        if let QueueConfig::NotBuilt(missing) = &self.queue {
            return Err(missing.error().within("queue"));
        }
        if let StoreConfig::NotBuilt(missing) = &self.store {
            return Err(missing.error().within("store"));
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
}

impl StoreConfig {
    /// Checks the store settings as configuration, naming the offending key relative to
    /// the section (`store.…`).
    pub fn check(&self) -> Result<(), ConfigError> {
        match self {
            Self::Sqlite { sqlite } => check_sqlite(sqlite),
            #[cfg(feature = "postgres")]
            Self::Postgres { postgres } => check_postgres(postgres),
            Self::NotBuilt(missing) => Err(missing.error().within("store")),
        }
    }
}

fn check_sqlite(options: &SqliteStoreOptions) -> Result<(), ConfigError> {
    let path = options.sqlite_path.to_string_lossy();
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
    if options.sqlite_path.is_dir() {
        return Err(ConfigError::invalid(
            "store.sqlite_path",
            format!(
                "{} is a directory; name the database file",
                options.sqlite_path.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(feature = "postgres")]
fn check_postgres(options: &PostgresStoreOptions) -> Result<(), ConfigError> {
    let Some(url) = options.url.as_deref().filter(|u| !u.trim().is_empty()) else {
        return Err(ConfigError::invalid(
            "store.url",
            "is required with kind: postgres (postgres://user@host:port/database)",
        ));
    };
    check_postgres_url(url)?;
    if !(1..=1_000).contains(&options.pool_size) {
        return Err(ConfigError::invalid(
            "store.pool_size",
            "must be between 1 and 1000",
        ));
    }
    // PostgreSQL's own bound on statement_timeout (a 32-bit count of milliseconds).
    if !(1..=2_147_483_647).contains(&options.statement_timeout_ms) {
        return Err(ConfigError::invalid(
            "store.statement_timeout_ms",
            "must be between 1 and 2147483647 (PostgreSQL's limit)",
        ));
    }
    Ok(())
}

/// Refuses a URL that is not PostgreSQL's, that holds a password, or that the driver
/// cannot read, so `check-config` refuses what start-up would.
///
/// The URL is shown by `check-config` and may be logged: no password in it, neither in the
/// user part nor as a query parameter. That is asked of the URL itself, because the
/// driver's options do not tell where their password came from (the URL, `PGPASSWORD`,
/// `~/.pgpass`); and asked first, because the driver logs the query parameters it does not
/// know, with their values.
#[cfg(feature = "postgres")]
fn check_postgres_url(text: &str) -> Result<(), ConfigError> {
    let invalid = |reason: String| ConfigError::invalid("store.url", reason);
    let url = url::Url::parse(text).map_err(|error| {
        invalid(format!(
            "is not a URL ({error}); expected postgres://user@host:port/database"
        ))
    })?;
    if !matches!(url.scheme(), "postgres" | "postgresql") || !url.has_authority() {
        return Err(invalid(
            "must start with postgres:// or postgresql://".to_owned(),
        ));
    }
    let in_query = url
        .query_pairs()
        .any(|(key, _)| key.eq_ignore_ascii_case("password"));
    if url.password().is_some() || in_query {
        return Err(invalid(
            "holds a password; give it as store.password_file (or in the environment) instead"
                .to_owned(),
        ));
    }
    text.parse::<PgConnectOptions>()
        .map_err(|error| invalid(format!("is not a PostgreSQL URL: {error}")))?;
    Ok(())
}

fn check_limits(limits: &Limits) -> Result<(), ConfigError> {
    for (key, value) in [
        ("max_attachment_bytes", limits.max_attachment_bytes as u64),
        ("max_lines", limits.max_lines as u64),
        (
            "max_xlsx_uncompressed_bytes",
            limits.max_xlsx_uncompressed_bytes,
        ),
        ("max_reasons", limits.max_reasons as u64),
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

fn check_summary(summary: &SummaryConfig) -> Result<(), ConfigError> {
    if let Some(schedule) = &summary.schedule {
        check_cadence(schedule, &summary.time_zone)?;
    }
    if summary.directory.as_os_str().is_empty() {
        return Err(ConfigError::invalid(
            "summary.directory",
            "is empty: name the directory the summaries go to",
        ));
    }
    if summary.directory.exists() && !summary.directory.is_dir() {
        return Err(ConfigError::invalid(
            "summary.directory",
            format!(
                "{} exists and is not a directory",
                summary.directory.display()
            ),
        ));
    }
    if let Some(lease) = &summary.lease
        && !(300..=86_400_000).contains(&lease.ttl_ms)
    {
        return Err(ConfigError::invalid(
            "summary.lease.ttl_ms",
            "must be between 300 (0.3 s) and 86400000 (a day)",
        ));
    }
    Ok(())
}

/// Checks `schedule` and the time zone with the runtime's own parser, so `check-config`
/// refuses what `run` would.
fn check_cadence(schedule: &str, time_zone: &str) -> Result<(), ConfigError> {
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
    Timetable::parse(&cadence(time_zone))
        .map_err(|reason| ConfigError::invalid("summary.time_zone", reason))?;
    Ok(())
}

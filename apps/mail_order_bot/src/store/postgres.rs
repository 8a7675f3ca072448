//! The PostgreSQL order store: one database shared by every bot, on any number of hosts.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use plba_contracts::{Secret, async_trait};
use plba_util::Unpoisoned;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool, Row};
use tokio::sync::OnceCell;

use super::contract::{OrderStore, Stored};
use super::sql::{PROBE, Reads, now_ms};
use crate::decision::{NewOrder, NewRejection, Order, PeriodSummary, Rejection};
use crate::error::DomainError;

/// Schema migrations, embedded in the binary, applied in order once each.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_orders.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_rejection_trace.sql"),
    ),
];

/// The key of the advisory lock that makes one instance at a time migrate: bots starting
/// together wait for each other instead of racing to create the same tables.
const MIGRATION_LOCK: i64 = 0x0070_6c62_616d_6f62; // "plbamob"

/// How a [`PostgresOrderStore`] connects.
#[derive(Clone, Debug)]
pub struct PostgresSettings {
    /// `postgres://user@host:port/database` (the password, if any, comes apart).
    pub url: String,
    /// The password, when the URL has none (from a file or the environment).
    pub password: Option<Secret<String>>,
    /// Most connections this process opens.
    pub pool_size: u32,
    /// Longest one statement may run on the server (`statement_timeout`), and the longest
    /// wait for a connection.
    pub statement_timeout: Duration,
}

/// Orders and rejections in PostgreSQL. Connects lazily: a server down at start-up is a
/// transient failure of the first mail, not a crash; the schema is migrated on first use,
/// under an advisory lock so that instances starting at the same moment do it once.
///
/// Every write is one transaction; an order is reported stored only once it committed. One
/// order per Message-ID across all instances: the unique constraint decides, and the insert
/// answers in the same statement whether the order was new or which one existed.
#[derive(Debug)]
pub struct PostgresOrderStore {
    pool: PgPool,
    migrated: OnceCell<()>,
    /// The last order or rejection write failed (and none succeeded since): why.
    write_failure: std::sync::Mutex<Option<String>>,
}

/// Inserts the order unless its Message-ID exists, and answers either way in one statement:
/// the new id (`created`), or the existing order's id and sender.
const INSERT_ORDER: &str = "
WITH new AS (
    INSERT INTO orders (message_id, customer_id, sender, subject, received_at_ms, created_at_ms, total_quantity, total_cents)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (message_id) DO NOTHING
    RETURNING id, sender
)
SELECT id, sender, TRUE AS created FROM new
UNION ALL
SELECT id, sender, FALSE AS created FROM orders
WHERE message_id = $1 AND NOT EXISTS (SELECT 1 FROM new)";

/// Inserts the rejection unless its message key exists; answers the id either way.
const INSERT_REJECTION: &str = "
WITH new AS (
    INSERT INTO rejections (message_key, sender, subject, received_at_ms, created_at_ms, reasons, trace_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (message_key) DO NOTHING
    RETURNING id
)
SELECT id FROM new
UNION ALL
SELECT id FROM rejections WHERE message_key = $1 AND NOT EXISTS (SELECT 1 FROM new)";

/// How often an insert that lost a race is asked again: a row committed by another
/// instance after the statement's snapshot was taken is not visible to that statement,
/// only to the next one.
const RACE_RETRIES: usize = 3;

impl PostgresOrderStore {
    /// A store on the database at `settings.url`; checks the URL now, connects later.
    pub fn open(settings: &PostgresSettings) -> Result<Self, DomainError> {
        let mut options = PgConnectOptions::from_str(&settings.url)
            .map_err(|e| DomainError::Config(format!("store.url is not a PostgreSQL URL: {e}")))?;
        if let Some(password) = &settings.password {
            options = options.password(password.expose());
        }
        options = options
            .application_name("mail_order_bot")
            .disable_statement_logging();
        // Set per connection rather than as a startup option, which poolers (PgBouncer)
        // refuse.
        let set_timeout = format!(
            "SET statement_timeout = {}",
            settings.statement_timeout.as_millis()
        );
        let pool = PgPoolOptions::new()
            .max_connections(settings.pool_size.max(1))
            .acquire_timeout(settings.statement_timeout)
            .after_connect(move |conn, _| {
                let set_timeout = sqlx::AssertSqlSafe(set_timeout.clone());
                Box::pin(async move { sqlx::raw_sql(set_timeout).execute(conn).await.map(drop) })
            })
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            migrated: OnceCell::new(),
            write_failure: std::sync::Mutex::new(None),
        })
    }

    async fn ready(&self) -> Result<&PgPool, DomainError> {
        self.migrated
            .get_or_try_init(|| async {
                if self.up_to_date().await? {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(MIGRATION_LOCK)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS mail_order_bot_migrations (version BIGINT PRIMARY KEY)",
                )
                .execute(&mut *tx)
                .await?;
                for (version, sql) in MIGRATIONS {
                    let applied: Option<i64> = sqlx::query_scalar(
                        "SELECT version FROM mail_order_bot_migrations WHERE version = $1",
                    )
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if applied.is_none() {
                        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
                        sqlx::query("INSERT INTO mail_order_bot_migrations (version) VALUES ($1)")
                            .bind(version)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok::<(), DomainError>(())
            })
            .await?;
        Ok(&self.pool)
    }

    /// Whether every migration is applied already: then nothing is locked or created (the
    /// CLI's reads need no CREATE right), so a read-only check goes first.
    async fn up_to_date(&self) -> Result<bool, DomainError> {
        let latest = MIGRATIONS.last().map_or(0, |(version, _)| *version);
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM mail_order_bot_migrations")
                .fetch_optional(&self.pool)
                .await
                .or_else(
                    |error| match error.as_database_error().and_then(|e| e.code()) {
                        // No migrations table yet (42P01: undefined table): a fresh database.
                        Some(code) if code == "42P01" => Ok(None),
                        _ => Err(error),
                    },
                )?
                .flatten();
        Ok(applied.is_some_and(|applied| applied >= latest))
    }

    /// Runs a write, remembering whether it failed, for the health check.
    fn remembered<T>(&self, result: Result<T, DomainError>) -> Result<T, DomainError> {
        *self.write_failure.lock_or_recover() = result.as_ref().err().map(ToString::to_string);
        result
    }

    async fn insert_order(&self, order: &NewOrder) -> Result<Stored, DomainError> {
        let pool = self.ready().await?;
        for _ in 0..RACE_RETRIES {
            let mut tx = pool.begin().await?;
            let row = sqlx::query(INSERT_ORDER)
                .bind(text(&order.message_id))
                .bind(text(&order.customer_id))
                .bind(text(&order.sender))
                .bind(order.subject.as_deref().map(text))
                .bind(order.received_at_ms)
                .bind(now_ms())
                .bind(i64::try_from(order.total_quantity()).unwrap_or(i64::MAX))
                .bind(order.total_cents())
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else {
                // Lost a race to an insert this statement could not see yet: ask again.
                tx.rollback().await?;
                continue;
            };
            let id: i64 = row.try_get("id")?;
            if !row.try_get::<bool, _>("created")? {
                tx.rollback().await?;
                return Ok(Stored::AlreadyExists {
                    id,
                    sender: row.try_get("sender")?,
                });
            }
            let count = order.lines.len();
            let numbers: Vec<i64> = (1..=count)
                .map(|n| i64::try_from(n).unwrap_or(i64::MAX))
                .collect();
            let skus: Vec<Cow<'_, str>> = order.lines.iter().map(|l| text(&l.sku)).collect();
            let quantities: Vec<i64> = order.lines.iter().map(|l| i64::from(l.quantity)).collect();
            let prices: Vec<Option<i64>> = order.lines.iter().map(|l| l.unit_price_cents).collect();
            let attachments: Vec<Cow<'_, str>> =
                order.lines.iter().map(|l| text(&l.attachment)).collect();
            sqlx::query(
                "INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price_cents, attachment)
                 SELECT $1, * FROM UNNEST($2::BIGINT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[], $6::TEXT[])",
            )
            .bind(id)
            .bind(numbers)
            .bind(skus)
            .bind(quantities)
            .bind(prices)
            .bind(attachments)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Stored::Created(id));
        }
        Err(DomainError::store(format!(
            "the order {} was neither inserted nor found after {RACE_RETRIES} tries",
            order.message_id
        )))
    }

    async fn insert_rejection(&self, rejection: &NewRejection) -> Result<i64, DomainError> {
        let reasons = serde_json::to_string(&rejection.reasons)
            .map_err(|e| DomainError::store_caused("cannot encode the rejection reasons", e))?;
        let pool = self.ready().await?;
        for _ in 0..RACE_RETRIES {
            let id: Option<i64> = sqlx::query_scalar(INSERT_REJECTION)
                .bind(text(&rejection.message_key))
                .bind(rejection.sender.as_deref().map(text))
                .bind(rejection.subject.as_deref().map(text))
                .bind(rejection.received_at_ms)
                .bind(now_ms())
                .bind(&reasons)
                .bind(rejection.trace_id.as_deref())
                .fetch_optional(pool)
                .await?;
            if let Some(id) = id {
                return Ok(id);
            }
        }
        Err(DomainError::store(format!(
            "the rejection of {} was neither inserted nor found after {RACE_RETRIES} tries",
            rejection.message_key
        )))
    }
}

#[async_trait]
impl OrderStore for PostgresOrderStore {
    async fn create_order(&self, order: &NewOrder) -> Result<Stored, DomainError> {
        let result = self.insert_order(order).await;
        self.remembered(result)
    }

    async fn record_rejection(&self, rejection: &NewRejection) -> Result<i64, DomainError> {
        let result = self.insert_rejection(rejection).await;
        self.remembered(result)
    }

    async fn list_orders(&self, limit: u32) -> Result<Vec<Order>, DomainError> {
        Reads(self.ready().await?).list_orders(limit).await
    }

    async fn get_order(&self, id: i64) -> Result<Option<Order>, DomainError> {
        Reads(self.ready().await?).get_order(id).await
    }

    async fn list_rejections(&self, limit: u32) -> Result<Vec<Rejection>, DomainError> {
        Reads(self.ready().await?).list_rejections(limit).await
    }

    async fn summarize(&self, from_ms: i64, until_ms: i64) -> Result<PeriodSummary, DomainError> {
        Reads(self.ready().await?)
            .summarize(from_ms, until_ms)
            .await
    }

    /// Writes the probe row. A success also clears the memory of a failed order write: the
    /// database takes writes again (a bot that gets no mail after an outage must not stay
    /// unready until its next mail).
    async fn check_writable(&self) -> Result<(), DomainError> {
        let pool = self.ready().await?;
        sqlx::query(PROBE).bind(now_ms()).execute(pool).await?;
        *self.write_failure.lock_or_recover() = None;
        Ok(())
    }
}

/// `value` as PostgreSQL text holds it: a text column refuses NUL, which a hostile mail may
/// carry in its subject or sender; it becomes U+FFFD rather than failing the mail forever.
fn text(value: &str) -> Cow<'_, str> {
    if value.contains('\0') {
        Cow::Owned(value.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(value)
    }
}

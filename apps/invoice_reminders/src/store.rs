//! Invoices, payments and reminders, in SQLite (one instance) or PostgreSQL (several): the
//! same SQL on both, through sqlx's `Any` driver.
//!
//! A reminder's row is its truth: `scheduled` when its invoice arrives, `sending` while an
//! e-mail is on its way, then `sent`; `cancelled` when the invoice is paid first; `skipped`
//! when its time had passed before the invoice arrived and a later stage had too; `failed`
//! when it cannot be sent at all (its dead letter's replay tries again).

use std::time::{SystemTime, UNIX_EPOCH};

use plba_contracts::{HealthContributor, HealthReport, async_trait};
use serde::Serialize;
use sqlx::{AnyPool, Row};

use crate::config::StoreConfig;
use crate::error::ReminderError;
use crate::invoice::Invoice;

/// The advisory lock under which instances starting together create the tables on
/// PostgreSQL, one at a time.
const SCHEMA_LOCK: i64 = 72_430_001;

const SCHEMA: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS invoices (
        invoice_id TEXT PRIMARY KEY,
        customer TEXT NOT NULL,
        email TEXT NOT NULL,
        amount TEXT NOT NULL,
        currency TEXT NOT NULL,
        due TEXT NOT NULL,
        received_ms BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS payments (
        invoice_id TEXT PRIMARY KEY,
        paid_ms BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS reminders (
        invoice_id TEXT NOT NULL,
        stage TEXT NOT NULL,
        due_ms BIGINT NOT NULL,
        state TEXT NOT NULL,
        sent_ms BIGINT,
        PRIMARY KEY (invoice_id, stage))",
];

/// Selects an invoice with its payment and the number of reminders sent (a literal, so the
/// queries built on it stay static SQL).
macro_rules! invoice_select {
    () => {
        "SELECT i.invoice_id, i.customer, i.email, i.amount, i.currency, i.due,
            i.received_ms, p.paid_ms,
            (SELECT COUNT(*) FROM reminders r WHERE r.invoice_id = i.invoice_id AND r.state = 'sent')
         FROM invoices i LEFT JOIN payments p ON p.invoice_id = i.invoice_id"
    };
}

/// An invoice as stored, with whether it is paid and how many reminders went out.
#[derive(Clone, Debug, Serialize)]
pub struct StoredInvoice {
    /// The invoice.
    pub invoice: Invoice,
    /// When it arrived (unix milliseconds).
    pub received_ms: i64,
    /// When its payment arrived, if it did.
    pub paid_ms: Option<i64>,
    /// Reminders sent so far.
    pub reminders_sent: i64,
}

/// A reminder as stored.
#[derive(Clone, Debug, Serialize)]
pub struct StoredReminder {
    /// Its invoice.
    pub invoice_id: String,
    /// Its stage.
    pub stage: String,
    /// When it is due (unix milliseconds).
    pub due_ms: i64,
    /// `scheduled`, `sending`, `sent`, `cancelled` or `skipped`.
    pub state: String,
    /// When it was sent.
    pub sent_ms: Option<i64>,
}

/// What storing an announced invoice found.
#[derive(Debug)]
pub(crate) struct Added {
    /// The invoice as stored: the first announcement of its number.
    pub(crate) invoice: Invoice,
    /// Whether its payment is recorded already.
    pub(crate) paid: bool,
    /// Whether this announcement differs from the stored one (it is not taken).
    pub(crate) changed: bool,
}

/// What a reminder that comes due should do.
#[derive(Debug)]
pub(crate) enum Claim {
    /// Send it: it is marked `sending` (again, after a crash mid-send or a replay).
    Send(Invoice),
    /// Its invoice is paid: it is now `cancelled`.
    Paid,
    /// It was sent, cancelled or skipped already.
    Done,
    /// No such reminder (its invoice was never stored).
    Unknown,
}

/// The store.
#[derive(Debug, Clone)]
pub struct ReminderStore {
    pool: AnyPool,
}

/// Now, in unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

impl ReminderStore {
    /// Opens (and creates, for SQLite) the store `config` names, and its tables.
    pub async fn open(config: &StoreConfig) -> Result<Self, ReminderError> {
        let (url, sqlite, max) = match config {
            StoreConfig::Sqlite { path } => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|error| ReminderError::Store {
                        what: format!("directory {} cannot be made", parent.display()),
                        source: sqlx::Error::Io(error),
                    })?;
                }
                (format!("sqlite://{}", path.display()), true, 1)
            }
            StoreConfig::Postgres { url } => (url.clone(), false, 8),
        };
        let settings = plba_sql::PoolSettings {
            max_connections: max,
            wal: true,
            ..plba_sql::PoolSettings::default()
        };
        let pool = plba_sql::open_pool(&url, settings)
            .await
            .map_err(ReminderError::store("cannot be opened"))?;
        plba_sql::create_tables(&pool, !sqlite, SCHEMA_LOCK, &SCHEMA)
            .await
            .map_err(ReminderError::store("cannot create its tables"))?;
        Ok(Self { pool })
    }

    fn failed(what: &'static str) -> impl FnOnce(sqlx::Error) -> ReminderError {
        ReminderError::store(what)
    }

    /// Stores `invoice` unless it is known: the first announcement stands, and later
    /// reminders are computed from it.
    pub(crate) async fn add_invoice(&self, invoice: &Invoice) -> Result<Added, ReminderError> {
        sqlx::query(
            "INSERT INTO invoices (invoice_id, customer, email, amount, currency, due, received_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (invoice_id) DO NOTHING",
        )
        .bind(&invoice.invoice_id)
        .bind(&invoice.customer)
        .bind(&invoice.email)
        .bind(&invoice.amount)
        .bind(&invoice.currency)
        .bind(&invoice.due)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(Self::failed("did not store an invoice"))?;
        let stored =
            self.invoice(&invoice.invoice_id)
                .await?
                .ok_or_else(|| ReminderError::Store {
                    what: "lost an invoice it had just stored".to_owned(),
                    source: sqlx::Error::RowNotFound,
                })?;
        Ok(Added {
            paid: stored.paid_ms.is_some(),
            changed: stored.invoice != *invoice,
            invoice: stored.invoice,
        })
    }

    /// Records a reminder `scheduled` (or `skipped`) unless it is known; `cancelled` at once
    /// when the invoice's payment is already recorded.
    pub(crate) async fn schedule(
        &self,
        invoice_id: &str,
        stage: &str,
        due_ms: i64,
        skipped: bool,
    ) -> Result<(), ReminderError> {
        // `WHERE 1 = 1` keeps SQLite from reading ON CONFLICT as a join's ON.
        sqlx::query(
            "INSERT INTO reminders (invoice_id, stage, due_ms, state)
             SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS BIGINT),
                    CASE WHEN EXISTS (SELECT 1 FROM payments WHERE invoice_id = $1)
                         THEN 'cancelled' ELSE CAST($4 AS TEXT) END
             WHERE 1 = 1
             ON CONFLICT (invoice_id, stage) DO NOTHING",
        )
        .bind(invoice_id)
        .bind(stage)
        .bind(due_ms)
        .bind(if skipped { "skipped" } else { "scheduled" })
        .execute(&self.pool)
        .await
        .map_err(Self::failed("did not schedule a reminder"))?;
        Ok(())
    }

    /// Records the payment of `invoice_id` and cancels its reminders still scheduled.
    pub(crate) async fn mark_paid(&self, invoice_id: &str) -> Result<u64, ReminderError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(Self::failed("did not answer"))?;
        sqlx::query(
            "INSERT INTO payments (invoice_id, paid_ms) VALUES ($1, $2) ON CONFLICT (invoice_id) DO NOTHING",
        )
        .bind(invoice_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(Self::failed("did not record a payment"))?;
        let cancelled = sqlx::query(
            "UPDATE reminders SET state = 'cancelled'
             WHERE invoice_id = $1 AND state IN ('scheduled', 'failed')",
        )
        .bind(invoice_id)
        .execute(&mut *tx)
        .await
        .map_err(Self::failed("did not cancel reminders"))?
        .rows_affected();
        tx.commit()
            .await
            .map_err(Self::failed("did not commit a payment"))?;
        Ok(cancelled)
    }

    /// Takes the reminder `(invoice_id, stage)` that came due: see [`Claim`]. Each step is
    /// one statement that checks what it changes, so a payment recorded meanwhile is never
    /// overwritten, on SQLite or PostgreSQL.
    pub(crate) async fn claim(
        &self,
        invoice_id: &str,
        stage: &str,
    ) -> Result<Claim, ReminderError> {
        let taken = sqlx::query(
            "UPDATE reminders SET state = 'sending'
             WHERE invoice_id = $1 AND stage = $2 AND state IN ('scheduled', 'sending', 'failed')
               AND NOT EXISTS (SELECT 1 FROM payments WHERE invoice_id = $1)",
        )
        .bind(invoice_id)
        .bind(stage)
        .execute(&self.pool)
        .await
        .map_err(Self::failed("did not take a reminder"))?
        .rows_affected();
        if taken == 1 {
            return Ok(match self.invoice(invoice_id).await? {
                Some(stored) => Claim::Send(stored.invoice),
                None => Claim::Unknown,
            });
        }
        let cancelled = sqlx::query(
            "UPDATE reminders SET state = 'cancelled'
             WHERE invoice_id = $1 AND stage = $2 AND state IN ('scheduled', 'sending', 'failed')",
        )
        .bind(invoice_id)
        .bind(stage)
        .execute(&self.pool)
        .await
        .map_err(Self::failed("did not cancel a reminder"))?
        .rows_affected();
        if cancelled == 1 {
            return Ok(Claim::Paid);
        }
        let known =
            sqlx::query("SELECT COUNT(*) FROM reminders WHERE invoice_id = $1 AND stage = $2")
                .bind(invoice_id)
                .bind(stage)
                .fetch_one(&self.pool)
                .await
                .and_then(|row| row.try_get::<i64, _>(0))
                .map_err(Self::failed("did not answer"))?;
        Ok(if known > 0 {
            Claim::Done
        } else {
            Claim::Unknown
        })
    }

    /// Records the reminder sent (only one being sent: a payment's cancel stands).
    pub(crate) async fn mark_sent(
        &self,
        invoice_id: &str,
        stage: &str,
    ) -> Result<(), ReminderError> {
        self.settle(invoice_id, stage, "sent", Some(now_ms())).await
    }

    /// Records the reminder failed for good (an address the mail server refuses, a template
    /// that does not render): a replay of its dead letter tries it again.
    pub(crate) async fn mark_failed(
        &self,
        invoice_id: &str,
        stage: &str,
    ) -> Result<(), ReminderError> {
        self.settle(invoice_id, stage, "failed", None).await
    }

    async fn settle(
        &self,
        invoice_id: &str,
        stage: &str,
        state: &str,
        sent_ms: Option<i64>,
    ) -> Result<(), ReminderError> {
        sqlx::query(
            "UPDATE reminders SET state = $1, sent_ms = $2
             WHERE invoice_id = $3 AND stage = $4 AND state = 'sending'",
        )
        .bind(state)
        .bind(sent_ms)
        .bind(invoice_id)
        .bind(stage)
        .execute(&self.pool)
        .await
        .map_err(Self::failed("did not record a reminder's outcome"))?;
        Ok(())
    }

    /// Reminders still `scheduled` or `sending` whose time passed before `before_ms`, the
    /// oldest first: their tasks may have been lost (a memory queue's process died).
    pub(crate) async fn overdue(
        &self,
        before_ms: i64,
        limit: i64,
    ) -> Result<Vec<(String, String)>, ReminderError> {
        let rows = sqlx::query(
            "SELECT invoice_id, stage FROM reminders
             WHERE state IN ('scheduled', 'sending') AND due_ms < $1
             ORDER BY due_ms LIMIT $2",
        )
        .bind(before_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(Self::failed("did not answer"))?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get(0).map_err(Self::failed("holds a bad row"))?,
                    row.try_get(1).map_err(Self::failed("holds a bad row"))?,
                ))
            })
            .collect()
    }

    /// One invoice, with its payment and reminders sent.
    pub async fn invoice(&self, invoice_id: &str) -> Result<Option<StoredInvoice>, ReminderError> {
        let row = sqlx::query(concat!(invoice_select!(), " WHERE i.invoice_id = $1"))
            .bind(invoice_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(Self::failed("did not answer"))?;
        row.map(|row| stored_invoice_of(&row)).transpose()
    }

    /// The newest invoices first, at most `limit`.
    pub async fn invoices(&self, limit: i64) -> Result<Vec<StoredInvoice>, ReminderError> {
        let rows = sqlx::query(concat!(
            invoice_select!(),
            " ORDER BY i.received_ms DESC, i.invoice_id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(Self::failed("did not answer"))?;
        rows.iter().map(stored_invoice_of).collect()
    }

    /// The reminders, latest due first (of one invoice when `invoice_id` is given).
    pub async fn reminders(
        &self,
        invoice_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredReminder>, ReminderError> {
        let rows = sqlx::query(
            "SELECT invoice_id, stage, due_ms, state, sent_ms FROM reminders
             WHERE ($1 = '' OR invoice_id = $1) ORDER BY due_ms DESC, invoice_id, stage LIMIT $2",
        )
        .bind(invoice_id.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(Self::failed("did not answer"))?;
        rows.iter()
            .map(|row| {
                let bad = Self::failed("holds a bad row");
                Ok(StoredReminder {
                    invoice_id: row.try_get(0).map_err(Self::failed("holds a bad row"))?,
                    stage: row.try_get(1).map_err(Self::failed("holds a bad row"))?,
                    due_ms: row.try_get(2).map_err(Self::failed("holds a bad row"))?,
                    state: row.try_get(3).map_err(Self::failed("holds a bad row"))?,
                    sent_ms: row.try_get(4).map_err(bad)?,
                })
            })
            .collect()
    }

    /// A critical health check: the store must take writes, or reminders would be sent and
    /// never recorded.
    pub fn health_contributor(&self) -> std::sync::Arc<dyn HealthContributor> {
        std::sync::Arc::new(StoreHealth(self.clone()))
    }

    /// Whether the store answers a write, for the health check.
    pub async fn check_writable(&self) -> Result<(), ReminderError> {
        sqlx::query("UPDATE payments SET paid_ms = paid_ms WHERE invoice_id = ''")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(Self::failed("does not take writes"))
    }
}

struct StoreHealth(ReminderStore);

#[async_trait]
impl HealthContributor for StoreHealth {
    async fn check(&self) -> HealthReport {
        match self.0.check_writable().await {
            Ok(()) => HealthReport::ok(),
            Err(error) => HealthReport::unhealthy(plba_util::error_chain(&error)),
        }
    }
}

fn stored_invoice_of(row: &sqlx::any::AnyRow) -> Result<StoredInvoice, ReminderError> {
    let bad = || ReminderError::store("holds a bad row");
    Ok(StoredInvoice {
        invoice: invoice_of(row)?,
        received_ms: row.try_get(6).map_err(bad())?,
        paid_ms: row.try_get(7).map_err(bad())?,
        reminders_sent: row.try_get(8).map_err(bad())?,
    })
}

fn invoice_of(row: &sqlx::any::AnyRow) -> Result<Invoice, ReminderError> {
    let get = |i: usize| -> Result<String, ReminderError> {
        row.try_get(i)
            .map_err(ReminderError::store("holds a bad row"))
    };
    Ok(Invoice {
        invoice_id: get(0)?,
        customer: get(1)?,
        email: get(2)?,
        amount: get(3)?,
        currency: get(4)?,
        due: get(5)?,
    })
}

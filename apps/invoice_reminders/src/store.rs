//! Invoices, payments and reminders, in SQLite (one instance) or PostgreSQL (several): the
//! same SQL on both, through sqlx's `Any` driver.
//!
//! A reminder's row is its truth: `scheduled` when its invoice arrives, `sending` while an
//! e-mail is on its way, then `sent`; `cancelled` when the invoice is paid first; `skipped`
//! when its time had passed before the invoice arrived and a later stage had too.

use std::time::{SystemTime, UNIX_EPOCH};

use plba_contracts::{HealthContributor, HealthReport, async_trait};
use serde::Serialize;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor, Row};

use crate::config::StoreConfig;
use crate::error::ReminderError;
use crate::invoice::Invoice;

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

/// What a reminder that comes due should do.
#[derive(Debug)]
pub(crate) enum Claim {
    /// Send it: it is marked `sending` (again, after a crash mid-send).
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
        install_default_drivers();
        let (url, sqlite, max) = match config {
            StoreConfig::Sqlite { path } => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|error| ReminderError::Store {
                        what: format!("directory {} cannot be made", parent.display()),
                        source: sqlx::Error::Io(error),
                    })?;
                }
                (format!("sqlite://{}?mode=rwc", path.display()), true, 1)
            }
            StoreConfig::Postgres { url } => (url.clone(), false, 8),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // One writer at a time: wait for the lock rather than fail.
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(ReminderError::store("cannot be opened"))?;
        for statement in SCHEMA {
            pool.execute(statement)
                .await
                .map_err(ReminderError::store("cannot create its tables"))?;
        }
        Ok(Self { pool })
    }

    fn failed(what: &'static str) -> impl FnOnce(sqlx::Error) -> ReminderError {
        ReminderError::store(what)
    }

    /// Stores `invoice` unless it is known (the first announcement stands); says whether its
    /// payment is already known.
    pub async fn add_invoice(&self, invoice: &Invoice) -> Result<bool, ReminderError> {
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
        self.is_paid(&invoice.invoice_id).await
    }

    async fn is_paid(&self, invoice_id: &str) -> Result<bool, ReminderError> {
        let row = sqlx::query("SELECT COUNT(*) FROM payments WHERE invoice_id = $1")
            .bind(invoice_id)
            .fetch_one(&self.pool)
            .await
            .map_err(Self::failed("did not answer"))?;
        Ok(row.try_get::<i64, _>(0).unwrap_or(0) > 0)
    }

    /// Records a reminder `scheduled` (or `skipped`) unless it is known.
    pub async fn schedule(
        &self,
        invoice_id: &str,
        stage: &str,
        due_ms: i64,
        skipped: bool,
    ) -> Result<(), ReminderError> {
        sqlx::query(
            "INSERT INTO reminders (invoice_id, stage, due_ms, state) VALUES ($1, $2, $3, $4)
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
    pub async fn mark_paid(&self, invoice_id: &str) -> Result<u64, ReminderError> {
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
            "UPDATE reminders SET state = 'cancelled' WHERE invoice_id = $1 AND state = 'scheduled'",
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

    /// Takes the reminder `(invoice_id, stage)` that came due: see [`Claim`].
    pub(crate) async fn claim(
        &self,
        invoice_id: &str,
        stage: &str,
    ) -> Result<Claim, ReminderError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(Self::failed("did not answer"))?;
        let state: Option<String> =
            sqlx::query("SELECT state FROM reminders WHERE invoice_id = $1 AND stage = $2")
                .bind(invoice_id)
                .bind(stage)
                .fetch_optional(&mut *tx)
                .await
                .map_err(Self::failed("did not answer"))?
                .and_then(|row| row.try_get(0).ok());
        let claim = match state.as_deref() {
            None => Claim::Unknown,
            Some("scheduled" | "sending") => {
                let paid = sqlx::query("SELECT COUNT(*) FROM payments WHERE invoice_id = $1")
                    .bind(invoice_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(Self::failed("did not answer"))?
                    .try_get::<i64, _>(0)
                    .unwrap_or(0)
                    > 0;
                let next = if paid { "cancelled" } else { "sending" };
                sqlx::query("UPDATE reminders SET state = $1 WHERE invoice_id = $2 AND stage = $3")
                    .bind(next)
                    .bind(invoice_id)
                    .bind(stage)
                    .execute(&mut *tx)
                    .await
                    .map_err(Self::failed("did not take a reminder"))?;
                if paid {
                    Claim::Paid
                } else {
                    match self.invoice_in(&mut tx, invoice_id).await? {
                        Some(invoice) => Claim::Send(invoice),
                        None => Claim::Unknown,
                    }
                }
            }
            Some(_) => Claim::Done,
        };
        tx.commit()
            .await
            .map_err(Self::failed("did not commit a reminder"))?;
        Ok(claim)
    }

    async fn invoice_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        invoice_id: &str,
    ) -> Result<Option<Invoice>, ReminderError> {
        let row = sqlx::query(
            "SELECT invoice_id, customer, email, amount, currency, due FROM invoices WHERE invoice_id = $1",
        )
        .bind(invoice_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(Self::failed("did not answer"))?;
        row.map(|row| invoice_of(&row)).transpose()
    }

    /// Records the reminder sent.
    pub async fn mark_sent(&self, invoice_id: &str, stage: &str) -> Result<(), ReminderError> {
        sqlx::query(
            "UPDATE reminders SET state = 'sent', sent_ms = $1 WHERE invoice_id = $2 AND stage = $3",
        )
        .bind(now_ms())
        .bind(invoice_id)
        .bind(stage)
        .execute(&self.pool)
        .await
        .map_err(Self::failed("did not record a reminder sent"))?;
        Ok(())
    }

    /// The newest invoices first, at most `limit`.
    pub async fn invoices(&self, limit: i64) -> Result<Vec<StoredInvoice>, ReminderError> {
        let rows = sqlx::query(
            "SELECT i.invoice_id, i.customer, i.email, i.amount, i.currency, i.due, i.received_ms,
                    p.paid_ms,
                    (SELECT COUNT(*) FROM reminders r WHERE r.invoice_id = i.invoice_id AND r.state = 'sent')
             FROM invoices i LEFT JOIN payments p ON p.invoice_id = i.invoice_id
             ORDER BY i.received_ms DESC, i.invoice_id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(Self::failed("did not answer"))?;
        rows.iter()
            .map(|row| {
                Ok(StoredInvoice {
                    invoice: invoice_of(row)?,
                    received_ms: row.try_get(6).map_err(Self::failed("holds a bad row"))?,
                    paid_ms: row.try_get(7).map_err(Self::failed("holds a bad row"))?,
                    reminders_sent: row.try_get(8).map_err(Self::failed("holds a bad row"))?,
                })
            })
            .collect()
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

//! What the SQLite and PostgreSQL stores share: the tables' columns, the reads (their SQL
//! text and their row mapping, written once for both databases) and the time stamps.
//!
//! Parameters are written `$1`, `$2`, …: PostgreSQL's form, which sqlx binds on SQLite as
//! well (to the first, second, … value), so one text serves both. The two databases keep
//! the same columns under the same names, so one mapping reads either's rows. What only one
//! database can say (PostgreSQL's insert that answers in one statement, `UNNEST`; SQLite's
//! `BEGIN IMMEDIATE`) stays in that backend's file.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use crate::decision::{
    CustomerTotals, NewOrder, NewRejection, Order, OrderLine, PeriodSummary, Rejection,
};
use crate::error::DomainError;

/// Marks the probe row written, for the health check (`store_probe` has the one row 1).
pub(super) const PROBE: &str = "UPDATE store_probe SET checked_at_ms = $1 WHERE id = 1";

/// The columns of `orders` a read takes (a macro, so that the queries stay literals).
macro_rules! order_columns {
    () => {
        "id, message_id, customer_id, sender, subject, received_at_ms, created_at_ms, total_quantity, total_cents"
    };
}

const NEWEST_ORDERS: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders ORDER BY id DESC LIMIT $1"
);

const ORDER_BY_ID: &str = concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1");

const LINES_OF_ORDER: &str = "SELECT sku, quantity, unit_price_cents, attachment FROM order_lines WHERE order_id = $1 ORDER BY line_no";

const NEWEST_REJECTIONS: &str = "SELECT id, message_key, sender, subject, received_at_ms, created_at_ms, reasons, trace_id FROM rejections ORDER BY id DESC LIMIT $1";

/// Orders per customer in a period. PostgreSQL sums BIGINTs as NUMERIC: the casts make
/// both databases answer BIGINT (`count` is BIGINT on both).
const TOTALS_PER_CUSTOMER: &str = "SELECT customer_id, count(*), CAST(coalesce(sum(total_quantity), 0) AS BIGINT), CAST(coalesce(sum(total_cents), 0) AS BIGINT) FROM orders WHERE created_at_ms >= $1 AND created_at_ms < $2 GROUP BY customer_id ORDER BY customer_id";

const REJECTIONS_IN_PERIOD: &str =
    "SELECT count(*) FROM rejections WHERE created_at_ms >= $1 AND created_at_ms < $2";

/// Milliseconds since the Unix epoch, as stored.
pub(super) fn now_ms() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
}

/// A database error is a failure of the store: retrying may help.
impl From<sqlx::Error> for DomainError {
    fn from(error: sqlx::Error) -> Self {
        Self::store_caused("database error", error)
    }
}

/// The reads of an order store, on a pool of SQLite or PostgreSQL connections alike.
pub(super) struct Reads<'p, DB: Database>(pub(super) &'p Pool<DB>);

// What the reads need of a database: SQLite and PostgreSQL both have it. Only `i64` and
// `String` are named: their `Option`s follow.
impl<DB> Reads<'_, DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    i64: Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB>,
    String: Type<DB> + for<'r> Decode<'r, DB>,
{
    /// The most recent orders, newest first, with their lines.
    pub(super) async fn list_orders(&self, limit: u32) -> Result<Vec<Order>, DomainError> {
        let rows = sqlx::query(NEWEST_ORDERS)
            .bind(i64::from(limit))
            .fetch_all(self.0)
            .await?;
        let mut orders = Vec::with_capacity(rows.len());
        for row in &rows {
            orders.push(self.order(row).await?);
        }
        Ok(orders)
    }

    /// One order with its lines.
    pub(super) async fn get_order(&self, id: i64) -> Result<Option<Order>, DomainError> {
        let row = sqlx::query(ORDER_BY_ID)
            .bind(id)
            .fetch_optional(self.0)
            .await?;
        match row {
            Some(row) => Ok(Some(self.order(&row).await?)),
            None => Ok(None),
        }
    }

    /// The most recent rejections, newest first.
    pub(super) async fn list_rejections(&self, limit: u32) -> Result<Vec<Rejection>, DomainError> {
        let rows = sqlx::query(NEWEST_REJECTIONS)
            .bind(i64::from(limit))
            .fetch_all(self.0)
            .await?;
        Ok(rows
            .iter()
            .map(Self::rejection)
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// Orders per customer and the number of rejections stored in `[from_ms, until_ms)`.
    pub(super) async fn summarize(
        &self,
        from_ms: i64,
        until_ms: i64,
    ) -> Result<PeriodSummary, DomainError> {
        let rows = sqlx::query(TOTALS_PER_CUSTOMER)
            .bind(from_ms)
            .bind(until_ms)
            .fetch_all(self.0)
            .await?;
        let customers = rows
            .iter()
            .map(|row| {
                Ok(CustomerTotals {
                    customer_id: row.try_get(0)?,
                    orders: row.try_get(1)?,
                    total_quantity: row.try_get(2)?,
                    total_cents: row.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let rejections = sqlx::query(REJECTIONS_IN_PERIOD)
            .bind(from_ms)
            .bind(until_ms)
            .fetch_one(self.0)
            .await?
            .try_get(0)?;
        Ok(PeriodSummary {
            customers,
            rejections,
        })
    }

    /// One `orders` row (the columns of `order_columns!`) with its lines, read now.
    async fn order(&self, row: &DB::Row) -> Result<Order, DomainError> {
        let id: i64 = row.try_get("id")?;
        let lines = sqlx::query(LINES_OF_ORDER)
            .bind(id)
            .fetch_all(self.0)
            .await?
            .iter()
            .map(Self::line)
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(Order {
            id,
            total_quantity: u64::try_from(row.try_get::<i64, _>("total_quantity")?).unwrap_or(0),
            total_cents: row.try_get("total_cents")?,
            created_at_ms: row.try_get("created_at_ms")?,
            order: NewOrder {
                message_id: row.try_get("message_id")?,
                customer_id: row.try_get("customer_id")?,
                sender: row.try_get("sender")?,
                subject: row.try_get("subject")?,
                received_at_ms: row.try_get("received_at_ms")?,
                lines,
            },
        })
    }

    /// One `order_lines` row.
    fn line(row: &DB::Row) -> Result<OrderLine, sqlx::Error> {
        Ok(OrderLine {
            sku: row.try_get("sku")?,
            quantity: u32::try_from(row.try_get::<i64, _>("quantity")?).unwrap_or(0),
            unit_price_cents: row.try_get("unit_price_cents")?,
            attachment: row.try_get("attachment")?,
        })
    }

    /// One `rejections` row. Its reasons are stored as a JSON list; text that is not one
    /// is kept as one reason.
    fn rejection(row: &DB::Row) -> Result<Rejection, sqlx::Error> {
        let reasons: String = row.try_get("reasons")?;
        Ok(Rejection {
            id: row.try_get("id")?,
            created_at_ms: row.try_get("created_at_ms")?,
            rejection: NewRejection {
                message_key: row.try_get("message_key")?,
                sender: row.try_get("sender")?,
                subject: row.try_get("subject")?,
                received_at_ms: row.try_get("received_at_ms")?,
                reasons: serde_json::from_str(&reasons).unwrap_or_else(|_| vec![reasons]),
                trace_id: row.try_get("trace_id")?,
            },
        })
    }
}

//! Reading stored rows back into the model, for every SQL store alike: SQLite and
//! PostgreSQL keep the same columns under the same names.

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::model::{NewOrder, NewRejection, Order, OrderLine, Rejection};
use crate::store::decode_reasons;

/// A column type that rows of `R`'s database decode (`i64`, `String` and their `Option`s,
/// for SQLite and PostgreSQL alike).
pub(crate) trait Decodes<R: Row>:
    for<'r> Decode<'r, R::Database> + Type<R::Database>
{
}

impl<R: Row, T> Decodes<R> for T where T: for<'r> Decode<'r, R::Database> + Type<R::Database> {}

/// One `order_lines` row (`sku, quantity, unit_price_cents, attachment`).
pub(crate) fn line_from<R>(row: &R) -> Result<OrderLine, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    i64: Decodes<R>,
    String: Decodes<R>,
    Option<i64>: Decodes<R>,
{
    Ok(OrderLine {
        sku: row.try_get("sku")?,
        quantity: u32::try_from(row.try_get::<i64, _>("quantity")?).unwrap_or(0),
        unit_price_cents: row.try_get("unit_price_cents")?,
        attachment: row.try_get("attachment")?,
    })
}

/// One `orders` row (the columns of `order_columns!`) with its `lines`.
pub(crate) fn order_from<R>(row: &R, lines: Vec<OrderLine>) -> Result<Order, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    i64: Decodes<R>,
    String: Decodes<R>,
    Option<i64>: Decodes<R>,
    Option<String>: Decodes<R>,
{
    Ok(Order {
        id: row.try_get("id")?,
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

/// One `rejections` row.
pub(crate) fn rejection_from<R>(row: &R) -> Result<Rejection, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    i64: Decodes<R>,
    String: Decodes<R>,
    Option<String>: Decodes<R>,
{
    Ok(Rejection {
        id: row.try_get("id")?,
        created_at_ms: row.try_get("created_at_ms")?,
        rejection: NewRejection {
            message_key: row.try_get("message_key")?,
            sender: row.try_get("sender")?,
            subject: row.try_get("subject")?,
            received_at_ms: row.try_get("received_at_ms")?,
            reasons: decode_reasons(row.try_get("reasons")?),
            trace_id: row.try_get("trace_id")?,
        },
    })
}

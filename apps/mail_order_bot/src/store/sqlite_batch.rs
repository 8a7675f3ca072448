//! A group commit's orders and rejections written with a few statements for the whole
//! batch rather than two or three per mail: each statement is a round trip to sqlx's SQLite
//! thread (a channel send and a wake-up), which cost more than SQLite's own work.
//!
//! Rows go in multi-row `INSERT … RETURNING` statements whose row counts are powers of two
//! (`CHUNKS`), so every batch size is written with statements the connection has prepared
//! and cached already. The results are what writing each job alone, in order, would give:
//! the first job of a Message-ID (or message key) creates the row; a later job of the same
//! key in the batch, or a key stored before, finds the existing row.

use std::collections::HashMap;

use sqlx::SqliteConnection;

use super::contract::Stored;
use super::sql::now_ms;
use crate::decision::{NewOrder, NewRejection};

/// One order or rejection to write.
#[derive(Debug)]
pub(super) enum WriteJob {
    Order(NewOrder),
    /// The rejection and its reasons as JSON.
    Rejection(NewRejection, String),
}

/// What a [`WriteJob`] wrote.
#[derive(Debug)]
pub(super) enum Written {
    Order(Stored),
    Rejection(i64),
}

/// Rows per statement, largest first: a count is written as the sum of these.
const CHUNKS: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

/// Writes `jobs` inside the caller's transaction; one result per job, in order.
pub(super) async fn write_all(
    conn: &mut SqliteConnection,
    jobs: &[WriteJob],
) -> Result<Vec<Written>, sqlx::Error> {
    let created_at = now_ms();
    let mut orders = Vec::new();
    let mut rejections = Vec::new();
    for (index, job) in jobs.iter().enumerate() {
        match job {
            WriteJob::Order(order) => orders.push((index, order)),
            WriteJob::Rejection(rejection, reasons) => {
                rejections.push((index, rejection, reasons.as_str()));
            }
        }
    }
    let mut written: Vec<Option<Written>> = jobs.iter().map(|_| None).collect();
    for (index, stored) in write_orders(conn, &orders, created_at).await? {
        written[index] = Some(Written::Order(stored));
    }
    for (index, id) in write_rejections(conn, &rejections, created_at).await? {
        written[index] = Some(Written::Rejection(id));
    }
    written
        .into_iter()
        .map(|result| result.ok_or_else(|| sqlx::Error::Protocol("a write got no result".into())))
        .collect()
}

/// The sizes of the statements that write `count` rows.
fn chunk_sizes(mut count: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let size = CHUNKS.into_iter().find(|&size| size <= count)?;
        count -= size;
        Some(size)
    })
}

/// `rows` split into statements of the `CHUNKS` sizes, each chunk with its statement text:
/// `make(size)`, made once per size into `cache`.
fn chunked<'r, T>(
    rows: &'r [T],
    cache: &'static std::sync::OnceLock<Vec<String>>,
    make: impl Fn(usize) -> String,
) -> impl Iterator<Item = (&'r [T], &'static str)> {
    let texts = cache.get_or_init(|| CHUNKS.into_iter().map(&make).collect());
    let mut rest = rows;
    chunk_sizes(rows.len()).map(move |size| {
        let (chunk, after) = rest.split_at(size);
        rest = after;
        let position = CHUNKS.iter().position(|&chunk| chunk == size).unwrap_or(0);
        (chunk, texts[position].as_str())
    })
}

fn values(rows: usize, row: &str) -> String {
    vec![row; rows].join(", ")
}

/// The orders' results by job index.
async fn write_orders(
    conn: &mut SqliteConnection,
    orders: &[(usize, &NewOrder)],
    created_at: i64,
) -> Result<Vec<(usize, Stored)>, sqlx::Error> {
    // The first job of each Message-ID writes it; later ones find it.
    let mut first: HashMap<&str, usize> = HashMap::new();
    let mut unique: Vec<&NewOrder> = Vec::new();
    for (_, order) in orders {
        if !first.contains_key(order.message_id.as_str()) {
            first.insert(order.message_id.as_str(), unique.len());
            unique.push(order);
        }
    }
    let mut created: HashMap<String, i64> = HashMap::new();
    static INSERTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    for (chunk, text) in chunked(&unique, &INSERTS, |rows| {
        format!(
            "INSERT INTO orders (message_id, customer_id, sender, subject, received_at_ms, created_at_ms, total_quantity, total_cents) VALUES {} ON CONFLICT(message_id) DO NOTHING RETURNING id, message_id",
            values(rows, "(?, ?, ?, ?, ?, ?, ?, ?)")
        )
    }) {
        let mut query = sqlx::query_as::<_, (i64, String)>(text);
        for order in chunk {
            query = query
                .bind(&order.message_id)
                .bind(&order.customer_id)
                .bind(&order.sender)
                .bind(&order.subject)
                .bind(order.received_at_ms)
                .bind(created_at)
                .bind(i64::try_from(order.total_quantity()).unwrap_or(i64::MAX))
                .bind(order.total_cents());
        }
        for (id, message_id) in query.fetch_all(&mut *conn).await? {
            created.insert(message_id, id);
        }
    }
    // Stored before this batch: the existing row, as a lone write would find it.
    let mut existing: HashMap<&str, (i64, String)> = HashMap::new();
    for order in &unique {
        if !created.contains_key(&order.message_id) {
            let row: (i64, String) =
                sqlx::query_as("SELECT id, sender FROM orders WHERE message_id = $1")
                    .bind(&order.message_id)
                    .fetch_one(&mut *conn)
                    .await?;
            existing.insert(order.message_id.as_str(), row);
        }
    }
    write_lines(conn, &unique, &created).await?;
    let mut seen: HashMap<&str, ()> = HashMap::new();
    let mut results = Vec::with_capacity(orders.len());
    for (index, order) in orders {
        let key = order.message_id.as_str();
        let stored = match (created.get(key), seen.insert(key, ()).is_none()) {
            (Some(&id), true) => Stored::Created(id),
            (Some(&id), false) => Stored::AlreadyExists {
                id,
                sender: unique[first[key]].sender.clone(),
            },
            (None, _) => {
                let (id, sender) = existing.get(key).cloned().ok_or(sqlx::Error::RowNotFound)?;
                Stored::AlreadyExists { id, sender }
            }
        };
        results.push((*index, stored));
    }
    Ok(results)
}

/// The lines of every order created, numbered from 1 within their order.
async fn write_lines(
    conn: &mut SqliteConnection,
    unique: &[&NewOrder],
    created: &HashMap<String, i64>,
) -> Result<(), sqlx::Error> {
    let lines: Vec<_> = unique
        .iter()
        .filter_map(|order| Some((*created.get(&order.message_id)?, *order)))
        .flat_map(|(id, order)| {
            order
                .lines
                .iter()
                .enumerate()
                .map(move |(number, line)| (id, number + 1, line))
        })
        .collect();
    static INSERTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    for (chunk, text) in chunked(&lines, &INSERTS, |rows| {
        format!(
            "INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price_cents, attachment) VALUES {}",
            values(rows, "(?, ?, ?, ?, ?, ?)")
        )
    }) {
        let mut query = sqlx::query::<_>(text);
        for (id, number, line) in chunk {
            query = query
                .bind(id)
                .bind(i64::try_from(*number).unwrap_or(i64::MAX))
                .bind(&line.sku)
                .bind(i64::from(line.quantity))
                .bind(line.unit_price_cents)
                .bind(&line.attachment);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The rejections' ids by job index.
async fn write_rejections(
    conn: &mut SqliteConnection,
    rejections: &[(usize, &NewRejection, &str)],
    created_at: i64,
) -> Result<Vec<(usize, i64)>, sqlx::Error> {
    let mut seen: HashMap<&str, ()> = HashMap::new();
    let unique: Vec<_> = rejections
        .iter()
        .filter(|(_, rejection, _)| seen.insert(rejection.message_key.as_str(), ()).is_none())
        .collect();
    let mut ids: HashMap<String, i64> = HashMap::new();
    static INSERTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    for (chunk, text) in chunked(&unique, &INSERTS, |rows| {
        format!(
            "INSERT INTO rejections (message_key, sender, subject, received_at_ms, created_at_ms, reasons, trace_id) VALUES {} ON CONFLICT(message_key) DO NOTHING RETURNING id, message_key",
            values(rows, "(?, ?, ?, ?, ?, ?, ?)")
        )
    }) {
        let mut query = sqlx::query_as::<_, (i64, String)>(text);
        for (_, rejection, reasons) in chunk {
            query = query
                .bind(&rejection.message_key)
                .bind(&rejection.sender)
                .bind(&rejection.subject)
                .bind(rejection.received_at_ms)
                .bind(created_at)
                .bind(*reasons)
                .bind(&rejection.trace_id);
        }
        for (id, key) in query.fetch_all(&mut *conn).await? {
            ids.insert(key, id);
        }
    }
    for (_, rejection, _) in &unique {
        if !ids.contains_key(&rejection.message_key) {
            let id: i64 = sqlx::query_scalar("SELECT id FROM rejections WHERE message_key = $1")
                .bind(&rejection.message_key)
                .fetch_one(&mut *conn)
                .await?;
            ids.insert(rejection.message_key.clone(), id);
        }
    }
    rejections
        .iter()
        .map(|(index, rejection, _)| {
            let id = ids.get(&rejection.message_key).copied();
            Ok((*index, id.ok_or(sqlx::Error::RowNotFound)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_count_is_written_with_the_cached_sizes() {
        for count in 0..=300 {
            let sizes: Vec<usize> = chunk_sizes(count).collect();
            assert_eq!(sizes.iter().sum::<usize>(), count);
            assert!(sizes.iter().all(|size| CHUNKS.contains(size)));
            assert!(sizes.len() <= count / 64 + 6, "{count}: {sizes:?}");
        }
    }
}

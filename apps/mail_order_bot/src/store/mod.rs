//! Storage: where orders and rejections are kept — one SQLite file (the embedded default)
//! or a PostgreSQL database shared by bots on several hosts (feature `postgres`).
//!
//! This file is the layer's face: [`open_store`] and what the others may name. Its parts
//! import each other only downwards — the backends take the contract and the shared SQL,
//! never this file:
//!
//! - `contract`: the [`OrderStore`] trait and [`Stored`];
//! - `sql`: the SQL text, row mapping and reads both databases share;
//! - `sqlite`, `postgres`: one file per backend (its writes, migrations and connections);
//!   `sqlite_batch` writes a SQLite group commit with a few statements for the batch.
//!
//! What every store promises ([`OrderStore`]): an order is created once per Message-ID and
//! a rejection recorded once per message key, so a redelivered mail changes nothing; a
//! write is answered only after its `COMMIT`; every error is transient (the mail stays
//! unseen and is retried). Both connect lazily, so a database down at start-up is a
//! transient failure of the first mail, not a crash, and both apply their embedded
//! migrations on first use. Health is writability — a write probe and the last write's
//! outcome — never a `SELECT 1`.
//!
//! - SQLite: writes of concurrent handlers are committed together (group commit: one
//!   `BEGIN IMMEDIATE … COMMIT` and one `fsync` per batch, on one pooled connection); a
//!   batch that failed because one write broke a constraint is retried one write per
//!   transaction, so each write's error is its own. A batch's orders, rejections and lines
//!   go in a few multi-row statements (each one a round trip to the driver's thread), and
//!   each write is answered as if written alone. A connection that saw any error is
//!   closed, never returned to the pool: after a failed `COMMIT` (a full disk) SQLite can
//!   leave it inside the transaction.
//! - PostgreSQL (feature `postgres`), shared by bots on several hosts: each write is one
//!   transaction. One statement (`INSERT … ON CONFLICT (message_id) DO NOTHING`) inserts the
//!   order or answers the existing one, asked again (up to three times) when it lost a race
//!   to a row its snapshot could not see; the lines go in with one `UNNEST` insert.
//!   Migrations run under an advisory lock, so instances starting together migrate once;
//!   `statement_timeout` is set per connection (poolers refuse it as a start-up option);
//!   a NUL in text becomes U+FFFD instead of failing the mail forever.
//! - The reads (`list_orders`, `get_order`, `list_rejections`, `summarize`) are written once
//!   in `sql`, with `$N` parameters, which sqlx binds on SQLite too.

mod contract;
#[cfg(feature = "postgres")]
mod postgres;
mod sql;
mod sqlite;
mod sqlite_batch;

use std::sync::Arc;
#[cfg(feature = "postgres")]
use std::time::Duration;

pub use contract::{OrderStore, Stored};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOrderStore, PostgresSettings};
pub use sqlite::SqliteOrderStore;

use crate::config::StoreConfig;
use crate::error::DomainError;

/// The store `config` names: the SQLite file, or the PostgreSQL database (feature
/// `postgres`). Connects lazily; only a malformed setting fails here.
pub fn open_store(config: &StoreConfig) -> Result<Arc<dyn OrderStore>, DomainError> {
    match config {
        StoreConfig::Sqlite { sqlite } => {
            Ok(Arc::new(SqliteOrderStore::open(&sqlite.sqlite_path)?))
        }
        #[cfg(feature = "postgres")]
        StoreConfig::Postgres { postgres } => {
            let settings = PostgresSettings {
                url: postgres.url.clone().unwrap_or_default(),
                password: postgres.password.clone(),
                pool_size: postgres.pool_size,
                statement_timeout: Duration::from_millis(postgres.statement_timeout_ms),
            };
            Ok(Arc::new(PostgresOrderStore::open(&settings)?))
        }
        // Refused by the configuration's check; named again for a caller that skipped it.
        StoreConfig::NotBuilt(missing) => Err(DomainError::Config(
            missing.error().within("store").to_string(),
        )),
    }
}

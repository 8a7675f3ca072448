//! Storage: where orders and rejections are kept — one SQLite file (the embedded default)
//! or a PostgreSQL database shared by bots on several hosts (feature `postgres`).
//!
//! This file is the layer's face: [`open_store`] and what the others may name. Its parts
//! import each other only downwards — the backends take the contract and the shared SQL,
//! never this file:
//!
//! - `contract`: the [`OrderStore`] trait and [`Stored`];
//! - `sql`: the SQL text, row mapping and reads both databases share;
//! - `sqlite`, `postgres`: one file per backend (its writes, migrations and connections).

mod contract;
#[cfg(feature = "postgres")]
mod postgres;
mod sql;
mod sqlite;

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

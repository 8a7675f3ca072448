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

use crate::config::{StoreConfig, StoreKind};
use crate::error::DomainError;

/// The store `config` names: the SQLite file, or the PostgreSQL database (feature
/// `postgres`). Connects lazily; only a malformed setting fails here.
pub fn open_store(config: &StoreConfig) -> Result<Arc<dyn OrderStore>, DomainError> {
    match config.kind {
        StoreKind::Sqlite => Ok(Arc::new(SqliteOrderStore::open(&config.sqlite_path)?)),
        #[cfg(feature = "postgres")]
        StoreKind::Postgres => {
            let settings = PostgresSettings {
                url: config.url.clone().unwrap_or_default(),
                password: config.password.clone(),
                pool_size: config.pool_size,
                statement_timeout: Duration::from_millis(config.statement_timeout_ms),
            };
            Ok(Arc::new(PostgresOrderStore::open(&settings)?))
        }
        #[cfg(not(feature = "postgres"))]
        StoreKind::Postgres => Err(DomainError::Config(
            "store.kind: postgres needs a build with the `postgres` feature".to_owned(),
        )),
    }
}

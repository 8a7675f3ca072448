//! The order store: where orders and rejections are kept.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plba_contracts::async_trait;

use crate::config::{StoreConfig, StoreKind};
use crate::error::DomainError;
use crate::model::{NewOrder, NewRejection, Order, PeriodSummary, Rejection};

/// What storing an order did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// A new order with this id.
    Created(i64),
    /// An order with the same Message-ID existed already: nothing new was stored.
    AlreadyExists {
        /// The existing order.
        id: i64,
        /// Who sent the mail that created it (a different sender reusing the Message-ID is
        /// suspicious, not a redelivery).
        sender: String,
    },
}

/// Keeps orders and rejections.
///
/// # Protocol
///
/// Creating an order is idempotent on its Message-ID, and recording a rejection on its
/// message key: a mail delivered again (after a crash, a lost ack) changes nothing. Every
/// error is a failure of the store (unreachable, locked, full): retrying may help.
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    /// Stores an order once per Message-ID.
    async fn create_order(&self, order: &NewOrder) -> Result<Stored, DomainError>;

    /// Records a rejection once per message key.
    async fn record_rejection(&self, rejection: &NewRejection) -> Result<i64, DomainError>;

    /// The most recent orders, newest first.
    async fn list_orders(&self, limit: u32) -> Result<Vec<Order>, DomainError>;

    /// One order.
    async fn get_order(&self, id: i64) -> Result<Option<Order>, DomainError>;

    /// The most recent rejections, newest first.
    async fn list_rejections(&self, limit: u32) -> Result<Vec<Rejection>, DomainError>;

    /// Orders per customer and the number of rejections stored at or after `from_ms` and
    /// before `until_ms` (Unix milliseconds).
    async fn summarize(&self, from_ms: i64, until_ms: i64) -> Result<PeriodSummary, DomainError>;

    /// Whether the store can write now (a small write, for health checks): an error says
    /// why not. A store that answers reads but cannot write is not healthy.
    async fn check_writable(&self) -> Result<(), DomainError>;
}

impl std::fmt::Debug for dyn OrderStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn OrderStore")
    }
}

/// The store `config` names: the SQLite file, or the PostgreSQL database (feature
/// `postgres`). Connects lazily; only a malformed setting fails here.
pub fn open_store(config: &StoreConfig) -> Result<Arc<dyn OrderStore>, DomainError> {
    match config.kind {
        StoreKind::Sqlite => Ok(Arc::new(crate::store_sqlite::SqliteOrderStore::open(
            &config.sqlite_path,
        )?)),
        #[cfg(feature = "postgres")]
        StoreKind::Postgres => {
            let settings = crate::store_postgres::PostgresSettings {
                url: config.url.clone().unwrap_or_default(),
                password: config.password.clone(),
                pool_size: config.pool_size,
                statement_timeout: Duration::from_millis(config.statement_timeout_ms),
            };
            Ok(Arc::new(crate::store_postgres::PostgresOrderStore::open(
                &settings,
            )?))
        }
        #[cfg(not(feature = "postgres"))]
        StoreKind::Postgres => Err(DomainError::Config(
            "store.kind: postgres needs a build with the `postgres` feature".to_owned(),
        )),
    }
}

/// Milliseconds since the Unix epoch, as stored.
pub(crate) fn now_ms() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
}

/// A rejection's stored reasons (a JSON list); text that is not one is kept as one reason.
pub(crate) fn decode_reasons(stored: String) -> Vec<String> {
    serde_json::from_str(&stored).unwrap_or_else(|_| vec![stored])
}

/// The columns of `orders` every store reads, in the order its row mapping expects (a
/// macro, so that queries stay string literals).
macro_rules! order_columns {
    () => {
        "id, message_id, customer_id, sender, subject, received_at_ms, created_at_ms, total_quantity, total_cents"
    };
}
pub(crate) use order_columns;

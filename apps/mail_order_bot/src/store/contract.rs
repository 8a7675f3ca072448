//! The order store's contract: what the decision's outcomes need of a place to keep them,
//! whichever database holds it.

use plba_contracts::async_trait;

use crate::decision::{NewOrder, NewRejection, Order, PeriodSummary, Rejection};
use crate::error::DomainError;

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

//! Leases: one holder at a time across processes and hosts.

use std::time::Duration;

use async_trait::async_trait;

/// A named lease that at most one holder has at a time, for work only one process may do
/// (polling a shared mailbox). It expires unless renewed, so a holder that dies releases it.
///
/// # Protocol
///
/// The would-be holder calls [`hold`](Self::hold) at least every
/// [`renew_interval`](Self::renew_interval): it takes the lease when free, renews it when
/// held, and answers whether it is held now. A backend error answers `false` (do not act
/// without the lease). [`release`](Self::release) gives it up early (a graceful stop).
#[async_trait]
pub trait Lease: Send + Sync + 'static {
    /// Takes or renews the lease; whether it is held now.
    async fn hold(&self) -> bool;

    /// Gives the lease up, if held.
    async fn release(&self);

    /// How often [`hold`](Self::hold) must be called to keep the lease.
    fn renew_interval(&self) -> Duration;

    /// This holder's identity (for logs and status).
    fn holder(&self) -> &str;
}

//! Keeping a mailbox lease while a source walks a long listing.

use std::sync::Arc;

use plba_contracts::Lease;
use tokio::time::Instant;

/// Renews a source's lease, when it has one, as it publishes a listing: publishing
/// thousands of messages may take longer than the lease lives, and a lease that expired
/// mid-walk would let a second process scan the same mailbox.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use plba_mail::LeaseRenewal;
///
/// let mut renewal = LeaseRenewal::new(None);
/// // Without a lease the walk goes on to the end.
/// assert!(renewal.still_held().await);
/// # });
/// ```
#[derive(Debug)]
pub struct LeaseRenewal<'a> {
    lease: Option<&'a Arc<dyn Lease>>,
    /// When this walk last renewed the lease.
    renewed: Option<Instant>,
}

impl<'a> LeaseRenewal<'a> {
    /// For a walk that starts now: the first [`still_held`](Self::still_held) renews the
    /// lease, since the listing before the walk may have taken a while (a reconnect, a
    /// slow search) and the lease may have lapsed meanwhile.
    pub fn new(lease: Option<&'a Arc<dyn Lease>>) -> Self {
        Self {
            lease,
            renewed: None,
        }
    }

    /// Whether the walk may go on: renews the lease when its renewal is due, and answers
    /// `false` once another process holds it (or Redis cannot say).
    pub async fn still_held(&mut self) -> bool {
        let Some(lease) = self.lease else {
            return true;
        };
        if self
            .renewed
            .is_some_and(|at| at.elapsed() < lease.renew_interval())
        {
            return true;
        }
        let held = lease.hold().await;
        if held {
            self.renewed = Some(Instant::now());
        } else {
            tracing::warn!(
                holder = lease.holder(),
                "lost the mailbox lease mid-scan; another process scans now"
            );
        }
        held
    }
}

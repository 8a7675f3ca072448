//! The memory budget for fetched mail: how many bytes of message bodies a process holds at
//! once, so raising the number of workers cannot multiply the largest mail into an
//! out-of-memory kill.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The default budget: 128 MiB, room for thousands of ordinary mails or five of the largest
/// (25 MiB) at once.
pub const DEFAULT_MEMORY_BUDGET: u64 = 128 * 1024 * 1024;

/// Bytes of fetched mail held at once, across every message not yet dropped.
///
/// A backend reserves a message's size before it reads the message and hands out the body as
/// [`Bytes`] that keep the reservation: the budget is given back when the last clone of the
/// body is dropped, whoever holds it. A message larger than the whole budget waits for all of
/// it, so it is read alone.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use plba_mail::MemoryBudget;
///
/// let budget = MemoryBudget::new(4096);
/// let body = budget.reserve(3000).await.hold(vec![b'x'; 3000]);
/// assert_eq!(budget.available(), 1024);
/// drop(body);
/// assert_eq!(budget.available(), 4096);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    units: u32,
}

/// The budget's unit: permits count kibibytes, so a `u32` covers terabytes.
const UNIT: u64 = 1024;

impl MemoryBudget {
    /// A budget of `bytes` (at least one kibibyte).
    pub fn new(bytes: u64) -> Self {
        let units = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, u32::try_from(Semaphore::MAX_PERMITS).unwrap_or(u32::MAX));
        Self {
            permits: Arc::new(Semaphore::new(units as usize)),
            units,
        }
    }

    /// The budget, in bytes.
    pub fn total(&self) -> u64 {
        u64::from(self.units) * UNIT
    }

    /// Bytes not reserved now.
    pub fn available(&self) -> u64 {
        self.permits.available_permits() as u64 * UNIT
    }

    /// Reserves `size` bytes (the whole budget, for a larger message) if they fit now.
    pub fn try_reserve(&self, size: u64) -> Option<Reservation> {
        let permit = Arc::clone(&self.permits)
            .try_acquire_many_owned(self.units_for(size))
            .ok()?;
        Some(Reservation {
            _permit: Some(permit),
        })
    }

    fn units_for(&self, size: u64) -> u32 {
        u32::try_from(size.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.units)
    }

    /// Gives back what `reservation` holds beyond what `size` bytes need: a backend that
    /// reserved room before it knew a message's size keeps only the message's share.
    ///
    /// ```
    /// use plba_mail::MemoryBudget;
    ///
    /// let budget = MemoryBudget::new(128 * 1024);
    /// let mut room = budget.try_reserve(64 * 1024).unwrap();
    /// budget.fit(&mut room, 3000);
    /// assert_eq!(budget.available(), 125 * 1024);
    /// ```
    pub fn fit(&self, reservation: &mut Reservation, size: u64) {
        let needed = self.units_for(size) as usize;
        if let Some(permit) = reservation._permit.as_mut() {
            let extra = permit.num_permits().saturating_sub(needed);
            if extra > 0 {
                drop(permit.split(extra));
            }
        }
    }

    /// Waits until `size` bytes fit (the whole budget, for a larger message) and reserves
    /// them until the returned reservation, or the body it holds, is dropped.
    pub async fn reserve(&self, size: u64) -> Reservation {
        match Arc::clone(&self.permits)
            .acquire_many_owned(self.units_for(size))
            .await
        {
            Ok(permit) => Reservation {
                _permit: Some(permit),
            },
            // The semaphore is never closed; without it there is nothing to hold.
            Err(_) => Reservation { _permit: None },
        }
    }
}

/// Bytes reserved in a [`MemoryBudget`], given back on drop.
#[derive(Debug)]
pub struct Reservation {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Reservation {
    /// The message body, keeping this reservation until its last clone is dropped.
    pub fn hold(self, body: Vec<u8>) -> Bytes {
        Bytes::from_owner(Held {
            body,
            _reservation: self,
        })
    }
}

/// A body and the reservation that pays for it.
struct Held {
    body: Vec<u8>,
    _reservation: Reservation,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reservation_waits_until_earlier_bodies_are_dropped() {
        let budget = MemoryBudget::new(10 * 1024);
        let first = budget.reserve(8 * 1024).await.hold(vec![0; 8 * 1024]);
        let clone = first.clone();
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(4 * 1024).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "4 KiB do not fit beside 8 of 10");
        drop(first);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a clone still holds the body");
        drop(clone);
        let reservation = waiting.await.unwrap();
        assert_eq!(budget.available(), 6 * 1024);
        drop(reservation);
        assert_eq!(budget.available(), 10 * 1024);
    }

    #[tokio::test]
    async fn try_reserve_answers_at_once() {
        let budget = MemoryBudget::new(4096);
        let held = budget.try_reserve(3000).unwrap();
        assert!(budget.try_reserve(2048).is_none(), "only 1 KiB is left");
        drop(held);
        assert!(budget.try_reserve(2048).is_some());
    }

    #[tokio::test]
    async fn a_message_larger_than_the_budget_takes_all_of_it() {
        let budget = MemoryBudget::new(4096);
        let big = budget.reserve(1 << 30).await;
        assert_eq!(budget.available(), 0);
        drop(big);
        assert_eq!(budget.total(), 4096);
        assert_eq!(budget.available(), 4096);
    }
}

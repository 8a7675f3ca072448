//! Locks that survive a panic elsewhere. PLBA's std locks guard plain data and are never held
//! across an await; a panic while one was held leaves the data usable, so poisoning is
//! ignored rather than turned into a second panic. One helper for the whole workspace.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// `lock` that recovers a poisoned mutex instead of panicking.
///
/// ```
/// use plba_util::Unpoisoned;
///
/// let counter = std::sync::Mutex::new(0);
/// *counter.lock_or_recover() += 1;
/// assert_eq!(*counter.lock_or_recover(), 1);
/// ```
pub trait Unpoisoned<T> {
    /// Locks, recovering from poisoning.
    fn lock_or_recover(&self) -> MutexGuard<'_, T>;
}

impl<T> Unpoisoned<T> for Mutex<T> {
    #[allow(clippy::disallowed_methods)] // the one place that takes the lock itself
    fn lock_or_recover(&self) -> MutexGuard<'_, T> {
        self.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Reading and writing a `RwLock`, recovering from poisoning.
pub trait UnpoisonedRw<T> {
    /// Shared access.
    fn read_or_recover(&self) -> RwLockReadGuard<'_, T>;
    /// Exclusive access.
    fn write_or_recover(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T> UnpoisonedRw<T> for RwLock<T> {
    #[allow(clippy::disallowed_methods)] // the one place that takes the lock itself
    fn read_or_recover(&self) -> RwLockReadGuard<'_, T> {
        self.read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[allow(clippy::disallowed_methods)] // the one place that takes the lock itself
    fn write_or_recover(&self) -> RwLockWriteGuard<'_, T> {
        self.write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

//! Lock helpers as free functions, on top of `plba_util::Unpoisoned`: the runtime's std
//! locks guard plain data and are never held across an await, so poisoning is recovered.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use plba_util::{Unpoisoned, UnpoisonedRw};

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock_or_recover()
}

pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read_or_recover()
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write_or_recover()
}

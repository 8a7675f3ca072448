//! Counters that many threads bump on every task, split so the threads do not share a cache
//! line.
//!
//! One atomic counter bumped by every worker thread makes each bump wait for the cache line
//! to come over from the last thread that wrote it: on a busy queue that costs more than
//! the queue itself. A sharded counter gives each thread a slot of its own (threads are
//! spread over the slots round-robin) and sums the slots when read, which is rare (a
//! status page, a scrape).

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

/// How many slots a sharded counter has: more than the threads a small host runs busy.
pub const SHARDS: usize = 8;

/// Hands threads their slots round-robin.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The slot of the calling thread, from 0 to [`SHARDS`] − 1; the same for the thread's
/// whole life.
#[inline]
pub fn shard_index() -> usize {
    SHARD.with(|shard| {
        shard.get().unwrap_or_else(|| {
            let index = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
            shard.set(Some(index));
            index
        })
    })
}

/// A value on a cache line of its own, so writes to its neighbours do not slow it.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct CachePadded<T>(pub T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A signed counter bumped from many threads and read now and then: a total or, going up
/// and down, a gauge (one slot may go negative when a task moves threads between its up
/// and its down; the sum stays right).
#[derive(Debug, Default)]
pub struct ShardedCounter {
    slots: [CachePadded<AtomicI64>; SHARDS],
}

impl ShardedCounter {
    /// Adds `delta` (negative to take away).
    #[inline]
    pub fn add(&self, delta: i64) {
        self.slots[shard_index()].fetch_add(delta, Ordering::Relaxed);
    }

    /// The sum of every slot: exact once the writers are quiet, a moment's view otherwise.
    pub fn sum(&self) -> i64 {
        self.slots
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .sum()
    }

    /// The sum as a count that cannot be negative (a gauge read while a task moved threads
    /// may show −1 for a moment).
    pub fn count(&self) -> u64 {
        u64::try_from(self.sum()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sums_what_every_thread_added() {
        let counter = Arc::new(ShardedCounter::default());
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counter.add(2);
                        counter.add(-1);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("a counting thread panicked");
        }
        assert_eq!(counter.sum(), 12_000);
        assert_eq!(counter.count(), 12_000);
    }

    #[test]
    fn a_gauge_below_zero_reads_as_zero() {
        let gauge = ShardedCounter::default();
        gauge.add(-1);
        assert_eq!(gauge.sum(), -1);
        assert_eq!(gauge.count(), 0);
    }

    #[test]
    fn a_thread_keeps_its_slot() {
        assert_eq!(shard_index(), shard_index());
        assert!(shard_index() < SHARDS);
    }
}

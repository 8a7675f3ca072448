//! The set of messages published and not yet completed.

use plba_contracts::Unpoisoned;
use std::collections::HashSet;
use std::sync::Mutex;

/// Message identities between publication and completion. A source consults it before
/// publishing; the completion wrapper removes an identity once the message is complete (or
/// given up for now), so a later scan can publish it again.
#[derive(Debug, Default)]
pub struct InFlight {
    identities: Mutex<HashSet<String>>,
}

impl InFlight {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks `identity` in flight; `false` if it already was (do not publish it again).
    pub fn begin(&self, identity: &str) -> bool {
        self.lock().insert(identity.to_owned())
    }

    /// Marks `identity` no longer in flight.
    pub fn end(&self, identity: &str) {
        self.lock().remove(identity);
    }

    /// Whether `identity` is in flight.
    pub fn contains(&self, identity: &str) -> bool {
        self.lock().contains(identity)
    }

    /// How many messages are in flight.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Keeps only the identities for which `keep` answers true (a source drops messages that
    /// are no longer in its mailbox, e.g. completed by another process).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.lock().retain(|identity| keep(identity));
    }

    /// Forgets everything, so the next scan publishes every unseen message again: after a
    /// mailbox's UIDVALIDITY changed, or when the queue lost the tasks it held (a Redis
    /// restarted without its data). A message still in a handler may then be handled twice;
    /// handlers are idempotent on the Message-ID, so that costs only the work.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // Plain data: a panic elsewhere while locked leaves it usable.
        self.identities.lock_or_recover()
    }
}

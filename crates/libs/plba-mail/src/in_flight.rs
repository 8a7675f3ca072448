//! The set of messages published and not yet completed.

use plba_util::Unpoisoned;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Message identities between publication and completion. A source consults it before
/// publishing; the completion wrapper removes an identity once the message is complete (or
/// given up for now), so a later scan can publish it again.
///
/// A scan's listing is old by the time the source walks it: a message listed as unseen may
/// have been completed meanwhile. So the set also remembers when each identity ended, and a
/// source that took a [`ScanMark`] before listing skips what ended after it
/// ([`begin_listed`](Self::begin_listed)); the next scan lists afresh.
///
/// With several processes on one mailbox, the task a source published may be handled — and
/// given up — in another process, whose completion wrapper cannot end it here. A maximum age
/// ([`with_max_age`](Self::with_max_age)) covers that: a message still listed that long after
/// it was published is published again (handlers are idempotent on the Message-ID).
#[derive(Debug, Default)]
pub struct InFlight {
    state: Mutex<State>,
    max_age: Option<Duration>,
}

#[derive(Debug, Default)]
struct State {
    /// Each identity in flight: when it was first published, and last.
    identities: HashMap<String, Published>,
    /// When each identity last ended, counted in ends; pruned by `retain`.
    ended: HashMap<String, u64>,
    ends: u64,
}

#[derive(Debug, Clone, Copy)]
struct Published {
    first: Instant,
    last: Instant,
}

/// The moment a scan began listing, for [`InFlight::begin_listed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanMark(u64);

impl InFlight {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set whose entries expire `max_age` after they began.
    pub fn with_max_age(max_age: Duration) -> Self {
        Self {
            state: Mutex::default(),
            max_age: Some(max_age),
        }
    }

    /// Marks `identity` in flight; `false` if it already was (do not publish it again),
    /// unless it began longer than the maximum age ago.
    pub fn begin(&self, identity: &str) -> bool {
        let mut state = self.lock();
        self.insert(&mut state, identity)
    }

    fn insert(&self, state: &mut State, identity: &str) -> bool {
        let now = Instant::now();
        match state.identities.get_mut(identity) {
            Some(published)
                if self
                    .max_age
                    .is_some_and(|age| now.duration_since(published.last) >= age) =>
            {
                published.last = now;
                true
            }
            Some(_) => false,
            None => {
                let published = Published {
                    first: now,
                    last: now,
                };
                state.identities.insert(identity.to_owned(), published);
                true
            }
        }
    }

    /// Taken before a scan lists the mailbox.
    pub fn mark(&self) -> ScanMark {
        ScanMark(self.lock().ends)
    }

    /// [`begin`](Self::begin) for a message a scan listed after `since`: `false` too when
    /// the message ended after the listing began, since it is then likely complete already.
    pub fn begin_listed(&self, identity: &str, since: ScanMark) -> bool {
        let mut state = self.lock();
        if state.ended.get(identity).is_some_and(|&at| at > since.0) {
            return false;
        }
        self.insert(&mut state, identity)
    }

    /// Marks `identity` no longer in flight.
    pub fn end(&self, identity: &str) {
        let mut state = self.lock();
        state.ends += 1;
        let at = state.ends;
        if state.identities.remove(identity).is_some() {
            state.ended.insert(identity.to_owned(), at);
        }
    }

    /// Whether `identity` is in flight.
    pub fn contains(&self, identity: &str) -> bool {
        self.lock().identities.contains_key(identity)
    }

    /// How long the oldest message in flight has waited since it was first published (a
    /// message waiting for its outcome: queued, in a handler or retrying).
    pub fn oldest_age(&self) -> Option<Duration> {
        let now = Instant::now();
        self.lock()
            .identities
            .values()
            .map(|published| now.duration_since(published.first))
            .max()
    }

    /// How many messages are in flight.
    pub fn len(&self) -> usize {
        self.lock().identities.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.lock().identities.is_empty()
    }

    /// Keeps only the identities for which `keep` answers true (a source drops messages that
    /// are no longer in its mailbox, e.g. completed by another process), and forgets the
    /// ends of the others.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let mut state = self.lock();
        state.identities.retain(|identity, _| keep(identity));
        state.ended.retain(|identity, _| keep(identity));
    }

    /// Forgets everything, so the next scan publishes every unseen message again: after a
    /// mailbox's UIDVALIDITY changed, or when the queue lost the tasks it held (a Redis
    /// restarted without its data). A message still in a handler may then be handled twice;
    /// handlers are idempotent on the Message-ID, so that costs only the work.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.identities.clear();
        state.ended.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain data: a panic elsewhere while locked leaves it usable.
        self.state.lock_or_recover()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_that_ended_after_the_listing_began_is_not_published_again() {
        let in_flight = InFlight::new();
        assert!(in_flight.begin("a"));
        let mark = in_flight.mark();
        // The scan listed `a`; its handler completes it before the scan reaches it.
        in_flight.end("a");
        assert!(
            !in_flight.begin_listed("a", mark),
            "the listing is stale for a"
        );
        // The next scan still lists it (say its handler gave it up for now): publish again.
        let next = in_flight.mark();
        assert!(in_flight.begin_listed("a", next));
    }

    #[test]
    fn an_entry_older_than_the_maximum_age_is_published_again() {
        let in_flight = InFlight::with_max_age(Duration::ZERO);
        assert!(in_flight.begin("a"));
        assert!(in_flight.begin("a"), "expired at once");
        let lasting = InFlight::with_max_age(Duration::from_secs(3600));
        assert!(lasting.begin("a"));
        assert!(!lasting.begin("a"), "still in flight");
    }

    #[test]
    fn ends_are_forgotten_with_the_messages() {
        let in_flight = InFlight::new();
        assert!(in_flight.begin("a"));
        in_flight.end("a");
        in_flight.retain(|_| false);
        assert!(in_flight.lock().ended.is_empty());
    }
}

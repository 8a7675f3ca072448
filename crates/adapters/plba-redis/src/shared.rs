//! What a queue's handles and its maintenance task share: the connection for ordinary
//! commands, the keys and options, the entries in hand, and what the queue knows about its
//! Redis (reachable? group present? which epoch?).

use plba_util::Unpoisoned;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{RedisError, Script};

use crate::condition::{Condition, LostListeners, is_outage};
use crate::identity::unique_name;
use crate::keys::Keys;
use crate::options::RedisQueueOptions;
use crate::scripts::ENSURE_GROUP;

/// The state behind every clone of one `RedisQueue`; the maintenance task holds it weakly,
/// so it ends when the last clone is dropped.
pub(crate) struct Shared {
    /// The queue's name, shared by every receipt (no allocation per delivery).
    pub(crate) name: Arc<str>,
    pub(crate) keys: Keys,
    pub(crate) options: RedisQueueOptions,
    /// Ordinary (non-blocking) commands; reconnects by itself.
    pub(crate) commands: ConnectionManager,
    /// This queue's consumer name in the group (see `identity::unique_name`).
    pub(crate) consumer: String,
    /// Entries handed to a handler and not settled yet.
    pub(crate) in_hand: InHand,
    /// What health and stats report without a round trip.
    pub(crate) condition: Arc<Condition>,
    ensure_group: Script,
    /// Told when the queue's contents were lost.
    lost: Arc<LostListeners>,
    /// The queue's epoch as this process last saw it (see `scripts::ENSURE_GROUP`).
    epoch: Mutex<String>,
    /// How many times the contents were lost while this queue was open.
    losses: AtomicU64,
}

impl Shared {
    /// Connects `commands` and creates the stream and group when missing; the epoch found
    /// now is the baseline, so only a later change counts as a loss.
    pub(crate) async fn connect(
        name: Arc<str>,
        options: RedisQueueOptions,
        commands: ConnectionManager,
        lost: Arc<LostListeners>,
    ) -> Result<Self, RedisError> {
        let keys = Keys::new(&options.prefix, &name);
        let ensure_group = Script::new(ENSURE_GROUP);
        let mut conn = commands.clone();
        let epoch: String = ensure_group
            .key(&keys.stream)
            .key(&keys.epoch)
            .arg(&options.group)
            .arg(unique_name())
            .invoke_async(&mut conn)
            .await?;
        Ok(Self {
            name,
            keys,
            options,
            commands,
            consumer: unique_name(),
            in_hand: InHand::default(),
            condition: Arc::default(),
            ensure_group,
            lost,
            epoch: Mutex::new(epoch),
            losses: AtomicU64::new(0),
        })
    }

    /// Records what a round trip says about Redis.
    pub(crate) fn observe<T>(&self, result: &Result<T, RedisError>) {
        match result {
            Ok(_) => self.condition.reachable(&self.name),
            Err(error) if is_outage(error) => self.condition.unreachable(&self.name, error),
            // Redis answered, if with an error.
            Err(_) => self.condition.reachable(&self.name),
        }
    }

    /// Recreates the stream and consumer group when missing (through `conn`, any working
    /// connection) and adopts the queue's epoch, announcing a loss when it changed.
    pub(crate) async fn ensure_group(
        &self,
        conn: &mut impl ConnectionLike,
    ) -> Result<(), RedisError> {
        let epoch: Result<String, _> = self
            .ensure_group
            .key(&self.keys.stream)
            .key(&self.keys.epoch)
            .arg(&self.options.group)
            .arg(unique_name())
            .invoke_async(conn)
            .await;
        self.observe(&epoch);
        let epoch = epoch?;
        self.condition.group_present();
        self.adopt_epoch(epoch);
        Ok(())
    }

    /// Takes `epoch` as the queue's current one; a change means Redis lost what the queue
    /// held, and the listeners are told so their work is published again.
    pub(crate) fn adopt_epoch(&self, epoch: String) {
        {
            let mut current = self.epoch.lock_or_recover();
            if *current == epoch {
                return;
            }
            *current = epoch;
        }
        self.losses.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            queue = %self.name,
            "Redis lost this queue's contents (restarted without its data, flushed, or the keys \
             were deleted); stream and consumer group recreated, publishers told to publish their unfinished work again"
        );
        self.lost.notify();
    }

    /// How many times the contents were found lost.
    pub(crate) fn losses(&self) -> u64 {
        self.losses.load(Ordering::Relaxed)
    }

    /// Adds a listener told of every loss.
    pub(crate) fn on_lost(&self, listener: impl Fn() + Send + Sync + 'static) {
        self.lost.add(Arc::new(listener));
    }
}

/// The stream entries this queue handed to a handler and that are not settled yet: the
/// heartbeat keeps them from being reclaimed, and the orphan rescue leaves them alone.
/// (Not to be confused with `RedisLease`, the `Lease` contract in Redis.)
#[derive(Default)]
pub(crate) struct InHand {
    ids: Mutex<HashSet<String>>,
}

impl InHand {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // Plain data: a panic elsewhere while locked leaves it usable.
        self.ids.lock_or_recover()
    }

    /// Entry `id` was handed to a handler.
    pub(crate) fn hold(&self, id: &str) {
        self.lock().insert(id.to_owned());
    }

    /// Entry `id` was settled (or given up on).
    pub(crate) fn let_go(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Every entry in hand now.
    pub(crate) fn ids(&self) -> Vec<String> {
        self.lock().iter().cloned().collect()
    }

    /// `ids` without those in hand.
    pub(crate) fn not_held(&self, mut ids: Vec<String>) -> Vec<String> {
        let held = self.lock();
        ids.retain(|id| !held.contains(id));
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_in_hand_until_let_go() {
        let in_hand = InHand::default();
        in_hand.hold("1-1");
        in_hand.hold("1-2");
        in_hand.let_go("1-1");
        assert_eq!(in_hand.ids(), ["1-2"]);
        assert_eq!(
            in_hand.not_held(vec!["1-1".to_owned(), "1-2".to_owned()]),
            ["1-1"]
        );
    }
}

//! Acks written behind. A handler's ack returns once queued here; a writer task sends the
//! queued acks in one script call (`XACK` + `XDEL` + the `acked` counter) at most
//! `ack_delay_ms` after the first of them, sooner when half the window waits or a flush is
//! asked for.
//!
//! Why: a handler that waited for its own ack's round trip would hold its concurrency slot
//! for it, and a pool of three could settle no more than three tasks per round trip. Behind
//! the window the same pool settles hundreds per round trip.
//!
//! What it costs, and why it is bounded: a process killed with acks still queued loses them,
//! so those tasks are delivered again (at-least-once, as for a task still in a handler). At
//! most `ack_window` acks wait; beyond it `ack` waits for room, so a Redis outage slows
//! handlers down instead of growing memory or the number of tasks a crash would repeat.
//! Until written, an entry stays in hand: the heartbeat keeps it from the janitor and the
//! orphan rescue leaves it alone.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use plba_util::Unpoisoned;
use redis::Script;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

use crate::condition::is_outage;
use crate::outage::{OUTAGE_BACKOFF, OutagePause};
use crate::scripts::ACK;
use crate::shared::Shared;

/// Most acks one script call settles.
const MAX_BATCH: usize = 512;

/// How long an idle writer sleeps before checking whether its queue is gone.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The acks of one queue instance waiting to be written.
pub(crate) struct Acks {
    queued: Mutex<Queued>,
    /// One permit per ack that may still be queued; a written ack gives its permit back.
    room: Semaphore,
    window: usize,
    delay: Duration,
    /// Flushes in progress: while any waits, the writer does not linger.
    urgent: AtomicUsize,
    /// Wakes the writer: a first ack queued, half the window queued, or a flush asked for.
    wake: Notify,
    /// Tells flushes that a batch was written.
    written: Notify,
    /// Acks written (or given up on) so far; the writer takes them in order, so a flush
    /// waits for this to reach the count queued when it began.
    written_total: AtomicU64,
}

/// The ids waiting, and how many were ever queued.
#[derive(Default)]
struct Queued {
    ids: Vec<String>,
    total: u64,
}

/// No room in the window within the time allowed: Redis has not taken acks for that long.
#[derive(Debug)]
pub(crate) struct NoRoom;

impl Acks {
    /// Room for `window` unwritten acks (at least one), each written within `delay`.
    pub(crate) fn new(window: usize, delay: Duration) -> Self {
        let window = window.max(1);
        Self {
            queued: Mutex::new(Queued::default()),
            room: Semaphore::new(window),
            window,
            delay,
            urgent: AtomicUsize::new(0),
            wake: Notify::new(),
            written: Notify::new(),
            written_total: AtomicU64::new(0),
        }
    }

    /// Queues the ack of entry `id`, waiting first for room in the window, at most `limit`.
    pub(crate) async fn queue(&self, id: String, limit: Duration) -> Result<(), NoRoom> {
        match tokio::time::timeout(limit, self.room.acquire()).await {
            Ok(Ok(permit)) => permit.forget(),
            // The semaphore is never closed; were it to be, the ack is queued anyway.
            Ok(Err(_)) => {}
            Err(_) => return Err(NoRoom),
        }
        // No await from the permit to the push: a cancelled caller cannot leak a permit.
        self.push(id);
        Ok(())
    }

    /// Queues the ack of entry `id` if the window has room now; gives `id` back if not.
    pub(crate) fn try_queue(&self, id: String) -> Result<(), String> {
        match self.room.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(tokio::sync::TryAcquireError::NoPermits) => return Err(id),
            // Never closed, as in `queue`.
            Err(tokio::sync::TryAcquireError::Closed) => {}
        }
        self.push(id);
        Ok(())
    }

    /// Adds `id` to the acks to write, its room in the window taken.
    fn push(&self, id: String) {
        let queued = {
            let mut queued = self.queued.lock_or_recover();
            queued.ids.push(id);
            queued.total += 1;
            queued.ids.len()
        };
        if queued == 1 || queued >= self.ready_at() {
            self.wake.notify_one();
        }
    }

    /// Acks queued or being written.
    pub(crate) fn unwritten(&self) -> usize {
        self.window.saturating_sub(self.room.available_permits())
    }

    /// Waits until every ack queued before the call is written (or given up on); acks
    /// queued meanwhile do not hold it up. Without Redis this waits for it: callers bound
    /// it with a timeout.
    pub(crate) async fn flush(&self) {
        let target = self.queued.lock_or_recover().total;
        self.urgent.fetch_add(1, Ordering::SeqCst);
        // Dropped with the future too, so a timed-out flush stops hurrying the writer.
        let _urgent = UrgentGuard(&self.urgent);
        loop {
            let written = self.written.notified();
            tokio::pin!(written);
            written.as_mut().enable();
            if self.written_total.load(Ordering::SeqCst) >= target {
                return;
            }
            self.wake.notify_one();
            written.await;
        }
    }

    fn ready_at(&self) -> usize {
        (self.window / 2).max(1)
    }

    fn ready(&self) -> bool {
        self.urgent.load(Ordering::SeqCst) > 0
            || self.queued.lock_or_recover().ids.len() >= self.ready_at()
    }

    fn is_empty(&self) -> bool {
        self.queued.lock_or_recover().ids.is_empty()
    }

    fn take(&self) -> Vec<String> {
        let mut queued = self.queued.lock_or_recover();
        let n = queued.ids.len().min(MAX_BATCH);
        queued.ids.drain(..n).collect()
    }

    fn done(&self, n: usize) {
        self.written_total.fetch_add(n as u64, Ordering::SeqCst);
        self.room.add_permits(n);
        self.written.notify_waiters();
    }
}

struct UrgentGuard<'a>(&'a AtomicUsize);

impl Drop for UrgentGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The writer task of one queue instance; it ends once the queue is dropped and nothing is
/// left to write.
pub(crate) async fn write_behind(acks: Arc<Acks>, shared: Weak<Shared>) {
    let script = Script::new(ACK);
    loop {
        if acks.is_empty() {
            let _idle = tokio::time::timeout(IDLE_CHECK, acks.wake.notified()).await;
            if shared.strong_count() == 0 && acks.is_empty() {
                return;
            }
            continue;
        }
        // Held until this batch is written, so a batch under way when the last handle is
        // dropped still reaches Redis. Acks queued while the writer idled are dropped with
        // the queue: their tasks are delivered again.
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let deadline = Instant::now() + acks.delay;
        while !acks.ready() {
            if tokio::time::timeout_at(deadline, acks.wake.notified())
                .await
                .is_err()
            {
                break;
            }
        }
        let ids = acks.take();
        if ids.is_empty() {
            continue;
        }
        write(&shared, &script, &ids).await;
        for id in &ids {
            shared.in_hand.let_go(id);
        }
        acks.done(ids.len());
    }
}

/// Writes one batch, retrying while Redis is unreachable; the script is idempotent (it
/// counts only what `XACK` settled), so a retry after a lost reply counts nothing twice.
/// Any other error gives the batch up: its entries stay pending and are delivered again.
async fn write(shared: &Arc<Shared>, script: &Script, ids: &[String]) {
    // The same pauses as a consumer's through an outage: acks are written within a second
    // of Redis coming back.
    let mut pause = OutagePause::new(OUTAGE_BACKOFF);
    loop {
        let mut invocation = script.key(&shared.keys.stream);
        invocation
            .key(&shared.keys.stats)
            .arg(&shared.options.group);
        for id in ids {
            invocation.arg(id);
        }
        let mut conn = shared.commands.clone();
        let result = invocation.invoke_async::<i64>(&mut conn).await;
        shared.observe(&result);
        match result {
            Ok(_) => return,
            // Nobody holds the queue but this writer: stop, or an outage would keep it (and
            // the maintenance task) alive for good.
            Err(error) if is_outage(&error) && Arc::strong_count(shared) > 1 => {
                tracing::debug!(queue = %shared.name, acks = ids.len(), %error, "writing acks failed; will retry");
                pause.after_failure().await;
            }
            Err(error) => {
                tracing::warn!(queue = %shared.name, acks = ids.len(), %error, "acks could not be written; their tasks will be delivered again");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_window_bounds_unwritten_acks() {
        let acks = Acks::new(2, Duration::from_millis(1));
        let limit = Duration::from_secs(60);
        acks.queue("1-1".to_owned(), limit).await.unwrap();
        acks.queue("1-2".to_owned(), limit).await.unwrap();
        assert_eq!(acks.unwritten(), 2);
        let third = acks.queue("1-3".to_owned(), limit);
        tokio::pin!(third);
        assert!(
            futures_poll_once(third.as_mut()).await.is_none(),
            "a full window makes ack wait"
        );
        assert_eq!(acks.take(), ["1-1", "1-2"]);
        acks.done(2);
        third.await.unwrap();
        assert_eq!(acks.unwritten(), 1);
        assert!(
            acks.queue("1-4".to_owned(), Duration::ZERO).await.is_ok(),
            "room left"
        );
        assert!(
            acks.queue("1-5".to_owned(), Duration::from_millis(1))
                .await
                .is_err(),
            "a full window refuses after the limit"
        );
    }

    #[tokio::test]
    async fn a_flush_returns_once_everything_is_written() {
        let limit = Duration::from_secs(60);
        let acks = Acks::new(8, limit);
        acks.queue("1-1".to_owned(), limit).await.unwrap();
        assert!(!acks.ready(), "one ack lingers for more");
        let flush = acks.flush();
        tokio::pin!(flush);
        assert!(futures_poll_once(flush.as_mut()).await.is_none());
        assert!(acks.ready(), "a waiting flush hurries the writer");
        assert_eq!(acks.take(), ["1-1"]);
        // Queued while the first is written, after the flush began: it does not hold the
        // flush up.
        acks.queue("1-2".to_owned(), limit).await.unwrap();
        acks.done(1);
        flush.await;
        assert_eq!(acks.unwritten(), 1);
        assert!(!acks.ready(), "no flush waits any more");
    }

    async fn futures_poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| match std::pin::Pin::new(&mut f).poll(cx) {
            std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
            std::task::Poll::Pending => std::task::Poll::Ready(None),
        })
        .await
    }
}

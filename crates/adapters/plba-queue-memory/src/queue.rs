//! The memory queue itself.

use plba_util::{ShardedCounter, Unpoisoned};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_channel::{Receiver, Sender, TrySendError};
use plba_contracts::{
    DeadLetter, DeadLetterReport, DeadLetterSelection, Delivery, NackOutcome, Published,
    QueueError, QueueStats, Receipt, Task, TaskId, TaskQueue, TryAck, async_trait,
};

use crate::options::{MemoryQueueError, MemoryQueueOptions, OverflowPolicy};

/// An in-process, bounded task queue. Cheap to clone: clones share the queue.
#[derive(Clone)]
pub struct MemoryQueue {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    /// This queue's identity in receipts: its name and an instance number, since two memory
    /// queues of one name in one process are still two queues. Shared by every receipt.
    receipt_queue: Arc<str>,
    options: MemoryQueueOptions,
    tx: Sender<Task>,
    rx: Receiver<Task>,
    counters: Counters,
    dead: Mutex<VecDeque<DeadLetter>>,
    /// Idempotency keys taken, with the task holding each and when it lets go.
    keys: Mutex<HashMap<String, (TaskId, Instant)>>,
}

/// The per-task counters are bumped by the producer and every consumer thread: sharded, so
/// they do not make those threads wait for one cache line.
#[derive(Default)]
struct Counters {
    published: ShardedCounter,
    in_flight: ShardedCounter,
    delayed: AtomicU64,
    acked: ShardedCounter,
    retried: AtomicU64,
    dead_total: AtomicU64,
}

impl std::fmt::Debug for MemoryQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryQueue")
            .field("name", &self.inner.name)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// Numbers memory queues, for their receipts.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

impl MemoryQueue {
    /// A queue named `name` with the default options, which are always valid.
    ///
    /// ```
    /// use plba_contracts::TaskQueue;
    /// use plba_queue_memory::MemoryQueue;
    ///
    /// let queue = MemoryQueue::named("reminders");
    /// assert_eq!(queue.name(), "reminders");
    /// ```
    pub fn named(name: impl Into<String>) -> Self {
        Self::build(name.into(), MemoryQueueOptions::default())
    }

    /// A queue named `name` with `options`; an error when an option is out of range.
    pub fn new(
        name: impl Into<String>,
        options: MemoryQueueOptions,
    ) -> Result<Self, MemoryQueueError> {
        let name = name.into();
        options.validate(&name)?;
        Ok(Self::build(name, options))
    }

    fn build(name: String, options: MemoryQueueOptions) -> Self {
        let (tx, rx) = async_channel::bounded(options.capacity);
        Self {
            inner: Arc::new(Inner {
                receipt_queue: Arc::from(format!(
                    "{name}#{}",
                    INSTANCES.fetch_add(1, Ordering::Relaxed)
                )),
                name,
                options,
                tx,
                rx,
                counters: Counters::default(),
                dead: Mutex::new(VecDeque::new()),
                keys: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The options the queue was built with.
    pub fn options(&self) -> &MemoryQueueOptions {
        &self.inner.options
    }

    /// Closes the queue: publishing fails from now on; consumers drain what is left and then
    /// get `QueueError::Closed`.
    pub fn close(&self) {
        self.inner.tx.close();
    }

    /// Takes the selected dead letters out of the list.
    fn take_dead(&self, which: &DeadLetterSelection) -> Vec<DeadLetter> {
        let mut dead = self.inner.lock_dead();
        let (taken, kept): (Vec<DeadLetter>, Vec<DeadLetter>) =
            dead.drain(..).partition(|letter| match which {
                DeadLetterSelection::All => true,
                DeadLetterSelection::Task(id) => letter.task.id == *id,
            });
        dead.extend(kept);
        taken
    }

    fn closed(&self) -> QueueError {
        QueueError::Closed {
            queue: self.inner.name.clone(),
        }
    }

    /// Publishes `task`; `own_ok` lets a task that holds its own idempotency key through (a
    /// replay).
    async fn add(&self, mut task: Task, own_ok: bool) -> Result<Published, QueueError> {
        task.attempt = 0;
        if let Err(existing) = self.inner.take_key(&task, own_ok) {
            return Ok(Published::Duplicate { existing });
        }
        let (id, key) = (task.id, task.idempotency_key().map(|(k, _)| k.to_owned()));
        let sent = match task.delay_left() {
            // Delayed tasks wait outside the channel: at most `capacity` of them, so memory
            // stays bounded (retries put aside by consumers are not refused).
            Some(_)
                if self.inner.counters.delayed.load(Ordering::Relaxed)
                    >= self.inner.options.capacity as u64 =>
            {
                Err(QueueError::Full {
                    queue: self.inner.name.clone(),
                    capacity: self.inner.options.capacity as u64,
                })
            }
            Some(delay) => self.requeue(task, Some(delay)),
            None => match self.inner.options.overflow {
                OverflowPolicy::Wait => self.inner.tx.send(task).await.map_err(|_| self.closed()),
                OverflowPolicy::Reject => match self.inner.tx.try_send(task) {
                    Ok(()) => Ok(()),
                    Err(TrySendError::Full(_)) => Err(QueueError::Full {
                        queue: self.inner.name.clone(),
                        capacity: self.inner.options.capacity as u64,
                    }),
                    Err(TrySendError::Closed(_)) => Err(self.closed()),
                },
            },
        };
        if let Err(error) = sent {
            self.inner.give_back_key(id, key);
            return Err(error);
        }
        self.inner.counters.published.add(1);
        Ok(Published::Enqueued)
    }

    /// Hands `task` out as a delivery: counts the attempt and the task in flight.
    fn deliver(&self, mut task: Task) -> Delivery {
        task.attempt = task.attempt.saturating_add(1);
        self.inner.counters.in_flight.add(1);
        // The memory queue settles by ownership of the delivery: its receipt only names the
        // queue, so a delivery settled on another queue is refused.
        let receipt = Receipt::from_seq(Arc::clone(&self.inner.receipt_queue), 0);
        Delivery::new(task, receipt)
    }

    fn settle_ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        let (_, receipt) = delivery.into_parts();
        receipt.check_queue(&self.inner.receipt_queue)?;
        self.inner.settle();
        self.inner.counters.acked.add(1);
        Ok(())
    }

    /// Puts a task back for redelivery after `delay`. Never waits for room: a consumer that
    /// blocked here while every other consumer did the same would deadlock the pool.
    fn requeue(&self, task: Task, delay: Option<Duration>) -> Result<(), QueueError> {
        let delay = delay.filter(|d| !d.is_zero());
        let task = match delay {
            None => match self.inner.tx.try_send(task) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(_)) => return Err(self.closed()),
                Err(TrySendError::Full(task)) => task,
            },
            Some(_) => task,
        };
        let handle = tokio::runtime::Handle::try_current().map_err(|_| QueueError::Misuse {
            queue: self.inner.name.clone(),
            reason: "a delayed retry needs a tokio runtime".to_owned(),
        })?;
        let inner = Arc::clone(&self.inner);
        inner.counters.delayed.fetch_add(1, Ordering::Relaxed);
        handle.spawn(async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            let id = task.id;
            let sent = inner.tx.send(task).await;
            inner.counters.delayed.fetch_sub(1, Ordering::Relaxed);
            if sent.is_err() {
                tracing::error!(queue = %inner.name, task_id = %id, "queue closed before a delayed task was due; the task is dropped");
            }
        });
        Ok(())
    }
}

impl Inner {
    fn lock_dead(&self) -> std::sync::MutexGuard<'_, VecDeque<DeadLetter>> {
        // A panic while holding this lock cannot leave the deque inconsistent: keep using it.
        self.dead.lock_or_recover()
    }

    /// Takes `task`'s idempotency key for it, unless a task holds it (`task` itself too,
    /// unless `own_ok`: a replay): then that task's id. A task without a key always passes.
    fn take_key(&self, task: &Task, own_ok: bool) -> Result<(), TaskId> {
        let Some((key, ttl)) = task.idempotency_key() else {
            return Ok(());
        };
        let now = Instant::now();
        let mut keys = self.keys.lock_or_recover();
        if let Some((holder, until)) = keys.get(key)
            && *until > now
            && !(own_ok && *holder == task.id)
        {
            return Err(*holder);
        }
        // Let go of expired keys now and then, so the map holds about the keys alive.
        if keys.len() >= 1024 && keys.len().is_power_of_two() {
            keys.retain(|_, (_, until)| *until > now);
        }
        keys.insert(key.to_owned(), (task.id, now + ttl));
        Ok(())
    }

    /// Whether another task than `task` holds its idempotency key now.
    fn key_taken_by_another(&self, task: &Task) -> bool {
        let Some((key, _)) = task.idempotency_key() else {
            return false;
        };
        self.keys
            .lock_or_recover()
            .get(key)
            .is_some_and(|(holder, until)| *until > Instant::now() && *holder != task.id)
    }

    /// Gives `task`'s key back after its publish failed: nothing holds it for real.
    fn give_back_key(&self, task_id: TaskId, key: Option<String>) {
        if let Some(key) = key {
            let mut keys = self.keys.lock_or_recover();
            if keys.get(&key).is_some_and(|(holder, _)| *holder == task_id) {
                keys.remove(&key);
            }
        }
    }

    fn settle(&self) {
        self.counters.in_flight.add(-1);
    }

    fn push_dead(&self, task: Task, reason: &str) {
        self.counters.dead_total.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(queue = %self.name, task_id = %task.id, task = %task.name, attempt = task.attempt, reason, "task dead-lettered");
        let mut dead = self.lock_dead();
        if dead.len() >= self.options.dead_letter_capacity
            && let Some(oldest) = dead.pop_front()
        {
            tracing::error!(queue = %self.name, task_id = %oldest.task.id, "dead-letter list full; dropping the oldest entry");
        }
        dead.push_back(DeadLetter {
            task,
            reason: reason.to_owned(),
            dead_at: SystemTime::now(),
        });
    }
}

#[async_trait]
impl TaskQueue for MemoryQueue {
    fn name(&self) -> &str {
        &self.inner.name
    }

    /// In-process by construction.
    fn crosses_processes(&self) -> bool {
        false
    }

    /// A delayed task waits outside the channel (counted as `delayed`) and goes in when due,
    /// waiting for room then; when `capacity` delayed tasks wait already, publishing another
    /// fails with `QueueError::Full` whatever the overflow policy.
    async fn publish(&self, task: Task) -> Result<Published, QueueError> {
        self.add(task, false).await
    }

    async fn consume(&self) -> Result<Delivery, QueueError> {
        // recv() is cancel-safe: dropping it before it resolves leaves the task in the channel.
        let task = self.inner.rx.recv().await.map_err(|_| self.closed())?;
        Ok(self.deliver(task))
    }

    fn try_consume(&self) -> Option<Result<Delivery, QueueError>> {
        match self.inner.rx.try_recv() {
            Ok(task) => Some(Ok(self.deliver(task))),
            // Closed but not empty still hands out tasks; closed and empty is `consume`'s
            // error, which it reports at once.
            Err(_) => None,
        }
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        self.settle_ack(delivery)
    }

    fn try_ack(&self, delivery: Delivery) -> TryAck {
        TryAck::Done(self.settle_ack(delivery))
    }

    async fn nack(
        &self,
        delivery: Delivery,
        retry_delay: Option<Duration>,
        reason: &str,
    ) -> Result<NackOutcome, QueueError> {
        let (task, receipt) = delivery.into_parts();
        receipt.check_queue(&self.inner.receipt_queue)?;
        self.inner.settle();
        if task.attempt >= self.inner.options.max_attempts {
            let reason = format!("attempts exhausted ({}): {reason}", task.attempt);
            self.inner.push_dead(task, &reason);
            return Ok(NackOutcome::DeadLettered);
        }
        self.inner.counters.retried.fetch_add(1, Ordering::Relaxed);
        self.requeue(task, retry_delay)?;
        Ok(NackOutcome::Requeued)
    }

    async fn dead_letter(&self, delivery: Delivery, reason: &str) -> Result<(), QueueError> {
        let (task, receipt) = delivery.into_parts();
        receipt.check_queue(&self.inner.receipt_queue)?;
        self.inner.settle();
        self.inner.push_dead(task, reason);
        Ok(())
    }

    async fn release(&self, delivery: Delivery) -> Result<(), QueueError> {
        let (mut task, receipt) = delivery.into_parts();
        receipt.check_queue(&self.inner.receipt_queue)?;
        self.inner.settle();
        task.attempt = task.attempt.saturating_sub(1);
        self.requeue(task, None)
    }

    async fn defer(&self, delivery: Delivery, delay: Duration) -> Result<(), QueueError> {
        let (mut task, receipt) = delivery.into_parts();
        receipt.check_queue(&self.inner.receipt_queue)?;
        self.inner.settle();
        task.attempt = task.attempt.saturating_sub(1);
        self.requeue(task, Some(delay))
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let c = &self.inner.counters;
        Ok(QueueStats {
            depth: self.inner.rx.len() as u64,
            in_flight: c.in_flight.count(),
            delayed: c.delayed.load(Ordering::Relaxed),
            dead: self.inner.lock_dead().len() as u64,
            published: c.published.count(),
            acked: c.acked.count(),
            retried: c.retried.load(Ordering::Relaxed),
            capacity: Some(self.inner.options.capacity as u64),
            consumers: None,
            // A channel cannot be looked into without taking from it.
            oldest_waiting_ms: None,
        })
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let dead = self.inner.lock_dead();
        Ok(dead.iter().rev().take(limit).cloned().collect())
    }

    /// Waits for room like `publish`.
    async fn replay_dead(
        &self,
        which: &DeadLetterSelection,
    ) -> Result<DeadLetterReport, QueueError> {
        let mut letters = self.take_dead(which).into_iter();
        let mut report = DeadLetterReport::default();
        while let Some(letter) = letters.next() {
            if self.inner.key_taken_by_another(&letter.task) {
                report.duplicates += 1;
                self.inner.lock_dead().push_back(letter);
                continue;
            }
            let mut task = letter.task.clone();
            task.attempt = 0;
            match self.add(task, true).await {
                Ok(Published::Enqueued) => report.done += 1,
                // Taken between the check and the publish.
                Ok(Published::Duplicate { .. }) => {
                    report.duplicates += 1;
                    self.inner.lock_dead().push_back(letter);
                }
                Err(error) => {
                    // Nothing selected is lost: what was not replayed goes back.
                    let mut dead = self.inner.lock_dead();
                    dead.push_back(letter);
                    dead.extend(letters);
                    return Err(error);
                }
            }
        }
        Ok(report)
    }

    async fn purge_dead(
        &self,
        which: &DeadLetterSelection,
    ) -> Result<DeadLetterReport, QueueError> {
        let done = self.take_dead(which).len() as u64;
        Ok(DeadLetterReport {
            done,
            ..DeadLetterReport::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_capacity_is_refused() {
        let options = MemoryQueueOptions {
            capacity: 0,
            ..MemoryQueueOptions::default()
        };
        let err = MemoryQueue::new("q", options).err().unwrap();
        assert_eq!(
            err.to_string(),
            "memory queue \"q\": capacity must be at least 1"
        );
    }

    #[tokio::test]
    async fn reject_policy_sheds_when_full() {
        let options = MemoryQueueOptions {
            capacity: 1,
            overflow: OverflowPolicy::Reject,
            ..MemoryQueueOptions::default()
        };
        let queue = MemoryQueue::new("q", options).unwrap();
        queue.publish(Task::new("t", "1")).await.unwrap();
        let err = queue.publish(Task::new("t", "2")).await.unwrap_err();
        assert!(matches!(err, QueueError::Full { capacity: 1, .. }), "{err}");
        assert_eq!(queue.stats().await.unwrap().published, 1);
    }

    #[tokio::test]
    async fn delayed_tasks_are_bounded_by_the_capacity() {
        let options = MemoryQueueOptions {
            capacity: 2,
            ..MemoryQueueOptions::default()
        };
        let queue = MemoryQueue::new("q", options).unwrap();
        let later = || Task::new("t", "x").run_after(Duration::from_secs(3600));
        queue.publish(later()).await.unwrap();
        queue.publish(later()).await.unwrap();
        let err = queue.publish(later()).await.unwrap_err();
        assert!(matches!(err, QueueError::Full { capacity: 2, .. }), "{err}");
        assert_eq!(queue.stats().await.unwrap().delayed, 2);
        // Tasks due now still go in.
        queue.publish(Task::new("t", "now")).await.unwrap();
    }

    #[tokio::test]
    async fn close_drains_then_reports_closed() {
        let queue = MemoryQueue::new("q", MemoryQueueOptions::default()).unwrap();
        queue.publish(Task::new("t", "1")).await.unwrap();
        queue.close();
        assert!(matches!(
            queue.publish(Task::new("t", "2")).await,
            Err(QueueError::Closed { .. })
        ));
        let delivery = queue.consume().await.unwrap();
        queue.ack(delivery).await.unwrap();
        assert!(matches!(
            queue.consume().await,
            Err(QueueError::Closed { .. })
        ));
    }

    #[tokio::test]
    async fn dead_letters_can_be_replayed() {
        let options = MemoryQueueOptions {
            max_attempts: 1,
            ..MemoryQueueOptions::default()
        };
        let queue = MemoryQueue::new("q", options).unwrap();
        queue.publish(Task::new("t", "1")).await.unwrap();
        let delivery = queue.consume().await.unwrap();
        let outcome = queue.nack(delivery, None, "boom").await.unwrap();
        assert_eq!(outcome, NackOutcome::DeadLettered);
        assert_eq!(
            queue.replay_dead(&DeadLetterSelection::All).await.unwrap(),
            DeadLetterReport {
                done: 1,
                ..DeadLetterReport::default()
            }
        );
        let delivery = queue.consume().await.unwrap();
        assert_eq!(delivery.task().attempt, 1);
        assert_eq!(queue.stats().await.unwrap().dead, 0);
    }

    #[tokio::test]
    async fn dead_letter_list_is_bounded() {
        let options = MemoryQueueOptions {
            dead_letter_capacity: 2,
            ..MemoryQueueOptions::default()
        };
        let queue = MemoryQueue::new("q", options).unwrap();
        for i in 0..3 {
            queue.publish(Task::new("t", format!("{i}"))).await.unwrap();
            let delivery = queue.consume().await.unwrap();
            queue.dead_letter(delivery, "bad").await.unwrap();
        }
        let letters = queue.dead_letters(10).await.unwrap();
        assert_eq!(letters.len(), 2);
        assert_eq!(letters[0].task.payload, "2", "newest first");
    }

    #[tokio::test]
    async fn a_waiting_task_is_taken_and_acked_without_waiting() {
        let queue = MemoryQueue::named("q");
        assert!(queue.try_consume().is_none(), "nothing waits yet");
        queue.publish(Task::new("t", "1")).await.unwrap();
        let delivery = queue.try_consume().unwrap().unwrap();
        assert_eq!(delivery.task().attempt, 1, "the delivery counts");
        assert_eq!(queue.stats().await.unwrap().in_flight, 1);
        assert!(queue.try_consume().is_none(), "one task, one delivery");
        assert!(matches!(queue.try_ack(delivery), TryAck::Done(Ok(()))));
        let stats = queue.stats().await.unwrap();
        assert_eq!((stats.in_flight, stats.acked), (0, 1));
        // A delivery of another queue is refused, as `ack` refuses it.
        let other = MemoryQueue::named("q");
        other.publish(Task::new("t", "2")).await.unwrap();
        let foreign = other.try_consume().unwrap().unwrap();
        assert!(matches!(
            queue.try_ack(foreign),
            TryAck::Done(Err(QueueError::WrongQueue { .. }))
        ));
    }
}

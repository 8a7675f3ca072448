//! Task queues: the contract every queue backend (memory, Redis Streams, …) fulfils.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Serialize;

use crate::task::Task;

/// The backend's handle for one delivery, needed to settle it (ack, nack, dead-letter).
///
/// Opaque to workers and handlers: a memory queue stores a sequence number, a Redis queue a
/// stream entry id. Backends build it with [`Receipt::from_seq`] or [`Receipt::from_key`] and
/// read it back with [`Receipt::seq`] / [`Receipt::key`]. It names the queue that issued it,
/// so settling a delivery on another queue is an error ([`Receipt::check_queue`]), and it is
/// not `Clone`: one delivery, one settlement.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Receipt {
    queue: Arc<str>,
    repr: ReceiptRepr,
}

#[derive(Debug, PartialEq, Eq, Hash)]
enum ReceiptRepr {
    Seq(u64),
    Key(Arc<str>),
}

impl Receipt {
    /// A receipt of queue `queue` that is a number.
    pub fn from_seq(queue: impl Into<Arc<str>>, seq: u64) -> Self {
        Self {
            queue: queue.into(),
            repr: ReceiptRepr::Seq(seq),
        }
    }

    /// A receipt of queue `queue` that is a string key (e.g. a stream entry id).
    pub fn from_key(queue: impl Into<Arc<str>>, key: impl Into<Arc<str>>) -> Self {
        Self {
            queue: queue.into(),
            repr: ReceiptRepr::Key(key.into()),
        }
    }

    /// The name of the queue that issued it.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The number, if this receipt was built from one.
    pub fn seq(&self) -> Option<u64> {
        match &self.repr {
            ReceiptRepr::Seq(seq) => Some(*seq),
            ReceiptRepr::Key(_) => None,
        }
    }

    /// The key, if this receipt was built from one.
    pub fn key(&self) -> Option<&str> {
        match &self.repr {
            ReceiptRepr::Key(key) => Some(key),
            ReceiptRepr::Seq(_) => None,
        }
    }

    /// `Ok` when queue `name` issued this receipt; a backend calls it before settling.
    ///
    /// ```
    /// use plba_contracts::{QueueError, Receipt};
    ///
    /// let receipt = Receipt::from_seq("orders", 7);
    /// assert!(receipt.check_queue("orders").is_ok());
    /// assert!(matches!(receipt.check_queue("mail"), Err(QueueError::WrongQueue { .. })));
    /// ```
    pub fn check_queue(&self, name: &str) -> Result<(), QueueError> {
        if *self.queue == *name {
            Ok(())
        } else {
            Err(QueueError::WrongQueue {
                queue: name.to_owned(),
                issued_by: self.queue.to_string(),
            })
        }
    }
}

/// What [`TaskQueue::try_ack`] did.
#[derive(Debug)]
pub enum TryAck {
    /// The ack was settled now, with this outcome.
    Done(Result<(), QueueError>),
    /// The backend would have to wait: the delivery, still unsettled, for
    /// [`TaskQueue::ack`].
    WouldWait(Delivery),
}

/// A task handed to one consumer, together with what the queue needs to settle it.
///
/// Settling consumes the delivery, and a delivery cannot be copied or taken apart outside
/// its backend, so it is acked, nacked, released or dead-lettered at most once by
/// construction.
#[derive(Debug)]
pub struct Delivery {
    task: Task,
    receipt: Receipt,
}

impl Delivery {
    /// What a backend hands out: the task (with `attempt` already counting this delivery)
    /// and its receipt.
    pub fn new(task: Task, receipt: Receipt) -> Self {
        Self { task, receipt }
    }

    /// The task.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// The backend's handle for this delivery.
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }

    /// The task and the receipt, for the backend settling the delivery.
    pub fn into_parts(self) -> (Task, Receipt) {
        (self.task, self.receipt)
    }
}

/// What a [`TaskQueue::publish`] did with the task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Published {
    /// The task is in the queue (waiting for its time, if it was delayed).
    Enqueued,
    /// Another task with the same idempotency key was published within the key's time to
    /// live: this one was not added.
    Duplicate {
        /// The task that holds the key.
        existing: crate::TaskId,
    },
}

impl Published {
    /// Whether the publish was a no-op because of the task's idempotency key.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Self::Duplicate { .. })
    }
}

/// What a [`TaskQueue::nack`] did with the task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NackOutcome {
    /// The task will be delivered again (after the delay, if one was given).
    Requeued,
    /// The task had used all its attempts and now sits in the dead-letter place.
    DeadLettered,
}

/// A task that will not be retried, with the reason, for an operator to inspect.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeadLetter {
    /// The task as last delivered.
    pub task: Task,
    /// Why it was given up (the last handler error, or "attempts exhausted").
    pub reason: String,
    /// When it was dead-lettered.
    pub dead_at: SystemTime,
}

/// Which dead letters an operator acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeadLetterSelection {
    /// Every dead letter of the queue.
    All,
    /// The dead letters of this task (usually one).
    Task(crate::TaskId),
}

/// What a replay or a purge of dead letters did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeadLetterReport {
    /// Dead letters replayed (back in the queue, attempts reset) or purged (deleted).
    pub done: u64,
    /// Selected dead letters left in place: entries that are not tasks cannot be replayed.
    pub kept: u64,
    /// Selected dead letters left in place because their idempotency key is held by another
    /// task published since: replaying them would do the work twice.
    pub duplicates: u64,
}

/// Counters and gauges of one queue, as the control plane and metrics show them.
///
/// Counters (`published`, `acked`, `retried`, `dead`) count since the queue was created (for
/// shared backends: since the backend's keys were created).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Tasks waiting to be consumed now.
    pub depth: u64,
    /// Tasks delivered and not yet settled.
    pub in_flight: u64,
    /// Tasks waiting for a retry delay to pass.
    pub delayed: u64,
    /// Tasks in the dead-letter place.
    pub dead: u64,
    /// Tasks accepted by `publish`.
    pub published: u64,
    /// Deliveries acked.
    pub acked: u64,
    /// Deliveries nacked and requeued.
    pub retried: u64,
    /// The bound on `depth`, if the backend has one.
    pub capacity: Option<u64>,
    /// Consumers registered with a shared backend (every process's readers), if it tracks them.
    pub consumers: Option<u64>,
    /// How long the oldest task waiting to be consumed has waited, in milliseconds, when the
    /// backend can tell (`None` too when nothing waits).
    pub oldest_waiting_ms: Option<u64>,
}

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue was closed: no task will be published or delivered any more.
    #[error("queue {queue:?} is closed")]
    Closed {
        /// Queue name.
        queue: String,
    },
    /// The queue is full and its overflow policy sheds instead of waiting.
    #[error("queue {queue:?} is full ({capacity} tasks); the task was not accepted")]
    Full {
        /// Queue name.
        queue: String,
        /// The bound that was reached.
        capacity: u64,
    },
    /// The backend cannot be reached or answered with an error; retrying may help.
    #[error("queue {queue:?} backend unavailable: {reason}")]
    Unavailable {
        /// Queue name.
        queue: String,
        /// What failed (the backend's error, when there is one, is the source).
        reason: String,
        /// The backend's error, kept for inspection.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A stored entry could not be decoded into a task.
    #[error("queue {queue:?} holds an entry that is not a task: {reason}")]
    Corrupt {
        /// Queue name.
        queue: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The call was used in a way the backend cannot serve (e.g. outside a tokio runtime).
    #[error("queue {queue:?}: {reason}")]
    Misuse {
        /// Queue name.
        queue: String,
        /// What was wrong.
        reason: String,
    },
    /// A delivery was settled on a queue other than the one that handed it out.
    #[error("queue {queue:?} cannot settle a delivery of queue {issued_by:?}")]
    WrongQueue {
        /// The queue asked to settle.
        queue: String,
        /// The queue that issued the delivery.
        issued_by: String,
    },
}

impl QueueError {
    /// The backend of queue `queue` failed: `reason` says what failed, `source` why.
    pub fn unavailable(
        queue: impl Into<String>,
        reason: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Unavailable {
            queue: queue.into(),
            reason: reason.into(),
            source,
        }
    }

    /// Whether retrying the same call later can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Full { .. })
    }
}

/// A queue of tasks with at-least-once delivery.
///
/// # Protocol
///
/// - Producers call [`publish`](Self::publish). On a bounded backend a full queue makes
///   `publish` wait (backpressure) or, by the backend's policy, fail with
///   [`QueueError::Full`]; it never grows memory without bound.
/// - A task delayed with [`Task::run_at`] is not delivered before its time; it counts as
///   `delayed` meanwhile.
/// - A task with an idempotency key ([`Task::with_idempotency_key`]) is added only when no
///   task holding the key was published within the key's time to live; otherwise `publish`
///   answers [`Published::Duplicate`] and adds nothing — also for the same task published
///   again (a publish retried after a lost reply). A dead letter's replay goes through the
///   key too: it takes the key again when free or still its own, and stays a dead letter
///   when another task took the key since ([`DeadLetterReport::duplicates`]).
/// - Consumers call [`consume`](Self::consume), which waits for a task and returns a
///   [`Delivery`] whose `task.attempt` counts this delivery. Several consumers may call it
///   concurrently; each task goes to one of them.
/// - Every delivery is settled exactly once, by the consumer that received it:
///   - [`ack`](Self::ack) after the handler succeeded: the task is done;
///   - [`nack`](Self::nack) after a transient failure: the task comes back after
///     `retry_delay`, or goes to the dead-letter place once the backend's attempt limit is
///     reached ([`NackOutcome`] says which);
///   - [`dead_letter`](Self::dead_letter) after a permanent failure;
///   - [`release`](Self::release) when the consumer is stopping and gives the task back
///     untried: it is redelivered at once and the attempt is not charged;
///   - [`defer`](Self::defer) when a limit does not let the task start yet: it is
///     redelivered after the delay and the attempt is not charged.
/// - A delivery that is never settled (the process crashed) is delivered again: durable
///   backends after a visibility timeout, the memory backend never (its content dies with the
///   process).
/// - Dropping a `consume` future before it completes loses no task: it is safe to race it
///   against a stop signal.
/// - Errors: [`QueueError::is_transient`] tells a consumer whether to back off and try again
///   or to give up. Implementations never panic on bad stored data; they return
///   [`QueueError::Corrupt`].
#[async_trait]
pub trait TaskQueue: Send + Sync + 'static {
    /// The queue's name (used in logs, metrics and the dead-letter place).
    fn name(&self) -> &str;

    /// Whether a task published here may be handled in another process. Tracing makes a
    /// producer span only for such queues (unless asked to for all): within one process the
    /// handler's span is simply a child of the publisher's. `true` unless a backend knows
    /// better.
    fn crosses_processes(&self) -> bool {
        true
    }

    /// Adds a task (or, when its idempotency key is taken, does nothing and says so); waits
    /// while a bounded queue is full.
    async fn publish(&self, task: Task) -> Result<Published, QueueError>;

    /// Waits for the next task.
    async fn consume(&self) -> Result<Delivery, QueueError>;

    /// The next task if one is ready now, without waiting: `None` when none is, or when
    /// the backend cannot tell without a round trip (the default). A busy consumer takes
    /// tasks this way and waits in [`consume`](Self::consume) only when it gets `None`, so
    /// a task already in hand costs no wake-up and no boxed future. The same rules as
    /// `consume` apply to what it returns.
    fn try_consume(&self) -> Option<Result<Delivery, QueueError>> {
        None
    }

    /// Settles a delivery as done.
    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError>;

    /// Acks `delivery` now if the backend can without waiting (an in-process queue, or one
    /// that writes acks behind and has room): [`TryAck::Done`] with the outcome
    /// [`ack`](Self::ack) would have had. Otherwise [`TryAck::WouldWait`] gives the delivery
    /// back, to be settled with `ack` (the default).
    fn try_ack(&self, delivery: Delivery) -> TryAck {
        TryAck::WouldWait(delivery)
    }

    /// Settles a delivery as failed, for a retry after `retry_delay` (at once when `None`) or,
    /// once attempts are exhausted, for the dead-letter place.
    async fn nack(
        &self,
        delivery: Delivery,
        retry_delay: Option<Duration>,
        reason: &str,
    ) -> Result<NackOutcome, QueueError>;

    /// Settles a delivery as failed for good: it moves to the dead-letter place with `reason`.
    async fn dead_letter(&self, delivery: Delivery, reason: &str) -> Result<(), QueueError>;

    /// Gives an untried delivery back (the consumer is stopping): redelivered at once, the
    /// attempt not charged.
    async fn release(&self, delivery: Delivery) -> Result<(), QueueError>;

    /// Puts an untried delivery aside for at least `delay` (a limit said "not yet"): it is
    /// delivered again after that, the attempt not charged. The default, for backends that
    /// cannot delay, gives it back at once ([`release`](Self::release)).
    async fn defer(&self, delivery: Delivery, delay: Duration) -> Result<(), QueueError> {
        let _ = delay;
        self.release(delivery).await
    }

    /// Current counters and gauges.
    async fn stats(&self) -> Result<QueueStats, QueueError>;

    /// The most recent dead letters, newest first, at most `limit`.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError>;

    /// Called by a consumer as it stops: writes the settlements the backend queued for
    /// writing and gives back the deliveries it read ahead and never handed out, so that
    /// after a graceful stop no task waits for a visibility timeout. Safe to call while
    /// other consumers of the same queue go on. The default, for backends that do neither,
    /// does nothing.
    async fn stop_consuming(&self) -> Result<(), QueueError> {
        Ok(())
    }

    /// Moves the selected dead letters back into the queue with a fresh attempt count, for
    /// an operator who fixed what made them fail; one whose idempotency key another task
    /// took since stays (counted in `duplicates`). The default, for backends that keep no
    /// dead letters, refuses.
    async fn replay_dead(
        &self,
        which: &DeadLetterSelection,
    ) -> Result<DeadLetterReport, QueueError> {
        let _ = which;
        Err(QueueError::Misuse {
            queue: self.name().to_owned(),
            reason: "this queue keeps no dead letters to replay".to_owned(),
        })
    }

    /// Deletes the selected dead letters for good. The default refuses, as for
    /// [`replay_dead`](Self::replay_dead).
    async fn purge_dead(
        &self,
        which: &DeadLetterSelection,
    ) -> Result<DeadLetterReport, QueueError> {
        let _ = which;
        Err(QueueError::Misuse {
            queue: self.name().to_owned(),
            reason: "this queue keeps no dead letters to purge".to_owned(),
        })
    }
}

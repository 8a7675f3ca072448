//! The `TaskQueue` conformance suite: what any queue backend must do.
//!
//! A backend provides a [`QueueFactory`] and invokes [`task_queue_conformance!`](crate::task_queue_conformance)
//! in one of its test files; every check below then runs as its own test:
//!
//! ```ignore
//! struct Factory;
//! #[plba_contracts::async_trait]
//! impl plba_testkit::queue::QueueFactory for Factory {
//!     async fn create(&self, spec: plba_testkit::queue::ConformanceSpec) -> std::sync::Arc<dyn plba_contracts::TaskQueue> {
//!         todo!("build the backend's queue as `spec` says")
//!     }
//!     fn bounded(&self) -> bool { true }
//! }
//! plba_testkit::task_queue_conformance!(Factory);
//! ```

use plba_util::Unpoisoned;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use plba_contracts::{NackOutcome, QueueError, Task, TaskId, TaskQueue, async_trait};

use crate::wait::within;

/// Generous deadline for things that should happen promptly; only reached when broken.
const PROMPT: Duration = Duration::from_secs(10);

/// The queue a check needs.
#[derive(Clone, Copy, Debug)]
pub struct ConformanceSpec {
    /// Bound on waiting tasks (ignored by unbounded backends).
    pub capacity: usize,
    /// Deliveries after which a nack dead-letters.
    pub max_attempts: u32,
}

impl Default for ConformanceSpec {
    fn default() -> Self {
        Self {
            capacity: 1024,
            max_attempts: 5,
        }
    }
}

/// Builds fresh, empty queues of one backend for the suite.
#[async_trait]
pub trait QueueFactory: Send + Sync {
    /// A new queue, isolated from every other queue this factory made.
    async fn create(&self, spec: ConformanceSpec) -> Arc<dyn TaskQueue>;

    /// Whether `publish` waits when `capacity` tasks are waiting.
    fn bounded(&self) -> bool;
}

fn sample(n: u32) -> Task {
    Task::new("conformance.sample", format!("payload-{n}")).with_metadata(
        "traceparent",
        format!("00-{:032x}-{:016x}-01", n + 1, n + 1),
    )
}

/// Asserts that nothing is delivered for `window`; the consume is cancelled afterwards,
/// which by contract loses nothing.
async fn assert_nothing_within(queue: &dyn TaskQueue, window: Duration, what: &str) {
    if let Ok(result) = tokio::time::timeout(window, queue.consume()).await {
        let delivery = result.expect("consume failed");
        panic!("{what}: unexpectedly delivered {:?}", delivery.task());
    }
}

/// Published tasks come out whole (id, name, payload, metadata), with attempt 1, and acks
/// are counted.
pub async fn publish_consume_ack(factory: &dyn QueueFactory) {
    let queue = factory.create(ConformanceSpec::default()).await;
    let sent: Vec<Task> = (0..3).map(sample).collect();
    for task in &sent {
        queue.publish(task.clone()).await.unwrap();
    }
    let mut received = Vec::new();
    for _ in 0..3 {
        let delivery = within(PROMPT, "consume", queue.consume()).await.unwrap();
        assert_eq!(
            delivery.task().attempt,
            1,
            "first delivery counts as attempt 1"
        );
        received.push(delivery.task().clone());
        queue.ack(delivery).await.unwrap();
    }
    received.sort_by_key(|t| t.id);
    let mut expected = sent;
    expected.sort_by_key(|t| t.id);
    for (got, want) in received.iter().zip(&expected) {
        assert_eq!(got.id, want.id);
        assert_eq!(got.name, want.name);
        assert_eq!(got.payload, want.payload);
        assert_eq!(
            got.metadata, want.metadata,
            "metadata (traceparent) must survive the queue"
        );
    }
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.published, stats.acked), (3, 3), "{stats:?}");
    assert_eq!((stats.depth, stats.in_flight), (0, 0), "{stats:?}");
}

/// Depth and in-flight gauges follow consume and ack.
pub async fn stats_track_depth_and_in_flight(factory: &dyn QueueFactory) {
    let queue = factory.create(ConformanceSpec::default()).await;
    queue.publish(sample(1)).await.unwrap();
    queue.publish(sample(2)).await.unwrap();
    let delivery = within(PROMPT, "consume", queue.consume()).await.unwrap();
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.depth, stats.in_flight), (1, 1), "{stats:?}");
    queue.ack(delivery).await.unwrap();
    let stats = queue.stats().await.unwrap();
    assert_eq!(
        (stats.depth, stats.in_flight, stats.acked),
        (1, 0, 1),
        "{stats:?}"
    );
}

/// A nack without delay redelivers the same task with the attempt counted.
pub async fn nack_redelivers_with_attempt_counted(factory: &dyn QueueFactory) {
    let queue = factory.create(ConformanceSpec::default()).await;
    let task = sample(7);
    queue.publish(task.clone()).await.unwrap();
    let first = within(PROMPT, "consume", queue.consume()).await.unwrap();
    let outcome = queue.nack(first, None, "transient").await.unwrap();
    assert_eq!(outcome, NackOutcome::Requeued);
    let second = within(PROMPT, "redelivery", queue.consume()).await.unwrap();
    assert_eq!(second.task().id, task.id);
    assert_eq!(second.task().attempt, 2);
    queue.ack(second).await.unwrap();
    assert_eq!(queue.stats().await.unwrap().retried, 1);
}

/// A nack with a delay redelivers after the delay, not before.
pub async fn nack_with_delay_redelivers_after_the_delay(factory: &dyn QueueFactory) {
    let queue = factory.create(ConformanceSpec::default()).await;
    queue.publish(sample(1)).await.unwrap();
    let delivery = within(PROMPT, "consume", queue.consume()).await.unwrap();
    let delay = Duration::from_millis(400);
    let nacked_at = tokio::time::Instant::now();
    queue.nack(delivery, Some(delay), "later").await.unwrap();
    assert_eq!(
        queue.stats().await.unwrap().delayed,
        1,
        "the task waits as delayed"
    );
    assert_nothing_within(queue.as_ref(), delay / 2, "redelivered before the delay").await;
    let again = within(PROMPT, "delayed redelivery", queue.consume())
        .await
        .unwrap();
    assert!(
        nacked_at.elapsed() >= delay,
        "redelivered after {:?}, before the {delay:?} delay",
        nacked_at.elapsed()
    );
    assert_eq!(again.task().attempt, 2);
    queue.ack(again).await.unwrap();
}

/// After `max_attempts` deliveries a nack dead-letters the task, with the reason, visible in
/// stats and in the dead-letter list; it is not delivered again.
pub async fn dead_letter_after_max_attempts(factory: &dyn QueueFactory) {
    let queue = factory
        .create(ConformanceSpec {
            max_attempts: 2,
            ..ConformanceSpec::default()
        })
        .await;
    let task = sample(3);
    queue.publish(task.clone()).await.unwrap();
    let first = within(PROMPT, "consume", queue.consume()).await.unwrap();
    assert_eq!(
        queue.nack(first, None, "db down").await.unwrap(),
        NackOutcome::Requeued
    );
    let second = within(PROMPT, "consume", queue.consume()).await.unwrap();
    assert_eq!(second.task().attempt, 2);
    assert_eq!(
        queue.nack(second, None, "db down").await.unwrap(),
        NackOutcome::DeadLettered
    );
    let stats = queue.stats().await.unwrap();
    assert_eq!(
        (stats.dead, stats.in_flight, stats.depth),
        (1, 0, 0),
        "{stats:?}"
    );
    let letters = queue.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].task.id, task.id);
    assert!(
        letters[0].reason.contains("db down"),
        "reason kept: {}",
        letters[0].reason
    );
    assert_nothing_within(
        queue.as_ref(),
        Duration::from_millis(200),
        "dead letter redelivered",
    )
    .await;
}

/// An explicit dead-letter (permanent failure) needs no further attempts.
pub async fn dead_letter_at_once_on_request(factory: &dyn QueueFactory) {
    let queue = factory.create(ConformanceSpec::default()).await;
    queue.publish(sample(4)).await.unwrap();
    let delivery = within(PROMPT, "consume", queue.consume()).await.unwrap();
    queue
        .dead_letter(delivery, "malformed order")
        .await
        .unwrap();
    let letters = queue.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].reason, "malformed order");
    assert_eq!(queue.stats().await.unwrap().dead, 1);
}

/// A task delayed with `run_after` is not delivered before its time (counted as delayed
/// meanwhile) and is delivered after it; a task whose time has passed goes at once.
pub async fn a_delayed_task_is_delivered_at_its_time(factory: &dyn QueueFactory) {
    let queue = factory.create(ConformanceSpec::default()).await;
    let delay = Duration::from_millis(1_500);
    let published = std::time::Instant::now();
    let later = sample(1).run_after(delay);
    let later_id = later.id;
    assert_eq!(
        queue.publish(later).await.unwrap(),
        plba_contracts::Published::Enqueued
    );
    let now = sample(2).run_at(std::time::SystemTime::now() - Duration::from_secs(60));
    let now_id = now.id;
    queue.publish(now).await.unwrap();
    let first = within(PROMPT, "the task already due", queue.consume())
        .await
        .unwrap();
    assert_eq!(first.task().id, now_id, "a past time means at once");
    queue.ack(first).await.unwrap();
    assert_eq!(
        queue.stats().await.unwrap().delayed,
        1,
        "waiting for its time"
    );
    let second = within(PROMPT, "the delayed task", queue.consume())
        .await
        .unwrap();
    assert_eq!(second.task().id, later_id);
    assert!(
        published.elapsed() >= delay,
        "delivered after {:?}, before its delay of {delay:?}",
        published.elapsed()
    );
    assert_eq!(second.task().attempt, 1);
    queue.ack(second).await.unwrap();
    assert_eq!(queue.stats().await.unwrap().published, 2);
}

/// While a key lives, publishing another task with it — or the same task again, as a
/// producer retrying after a lost reply does — adds nothing and says which task holds it;
/// once the key's time to live has passed, the key is free again.
pub async fn a_keyed_publish_is_a_reported_no_op_while_the_key_lives(factory: &dyn QueueFactory) {
    use plba_contracts::Published;
    let queue = factory.create(ConformanceSpec::default()).await;
    let first = sample(1).with_idempotency_key("order-7", Duration::from_secs(600));
    let first_id = first.id;
    assert_eq!(
        queue.publish(first.clone()).await.unwrap(),
        Published::Enqueued
    );
    let again = sample(2).with_idempotency_key("order-7", Duration::from_secs(600));
    assert_eq!(
        queue.publish(again).await.unwrap(),
        Published::Duplicate { existing: first_id }
    );
    assert_eq!(
        queue.publish(first).await.unwrap(),
        Published::Duplicate { existing: first_id },
        "the same task again is a duplicate too"
    );
    let other = sample(3).with_idempotency_key("order-8", Duration::from_millis(200));
    assert_eq!(queue.publish(other).await.unwrap(), Published::Enqueued);
    assert_eq!(
        queue.stats().await.unwrap().published,
        2,
        "duplicates are not counted"
    );
    let mut delivered = Vec::new();
    for _ in 0..2 {
        let delivery = within(PROMPT, "consume", queue.consume()).await.unwrap();
        delivered.push(delivery.task().id);
        queue.ack(delivery).await.unwrap();
    }
    assert!(delivered.contains(&first_id));
    assert_nothing_within(&*queue, Duration::from_millis(200), "no duplicate").await;
    // "order-8" lived 200 ms: a new task may take it.
    let next = sample(4).with_idempotency_key("order-8", Duration::from_secs(600));
    within(PROMPT, "the key frees once its time passed", async {
        while queue.publish(next.clone()).await.unwrap() != Published::Enqueued {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let delivery = within(PROMPT, "consume", queue.consume()).await.unwrap();
    assert_eq!(delivery.task().id, next.id);
    queue.ack(delivery).await.unwrap();
}

/// A dead letter is replayed through its idempotency key: replayed when the key is free or
/// still its own, left in place (counted as a duplicate) when another task took the key.
pub async fn a_replay_does_not_bypass_the_idempotency_key(factory: &dyn QueueFactory) {
    use plba_contracts::{DeadLetterSelection, Published};
    let queue = factory.create(ConformanceSpec::default()).await;
    let dead = |task: Task| {
        let queue = Arc::clone(&queue);
        async move {
            queue.publish(task).await.unwrap();
            let delivery = within(PROMPT, "consume", queue.consume()).await.unwrap();
            queue.dead_letter(delivery, "failed").await.unwrap();
        }
    };
    // Its own key, still alive: the replay goes through.
    let own = sample(1).with_idempotency_key("invoice-1", Duration::from_secs(600));
    let own_id = own.id;
    dead(own).await;
    let blocked = sample(2).with_idempotency_key("invoice-1", Duration::from_secs(600));
    assert!(queue.publish(blocked).await.unwrap().is_duplicate());
    let report = queue
        .replay_dead(&DeadLetterSelection::Task(own_id))
        .await
        .unwrap();
    assert_eq!((report.done, report.duplicates), (1, 0));
    let delivery = within(PROMPT, "the replayed task", queue.consume())
        .await
        .unwrap();
    assert_eq!(delivery.task().id, own_id);
    queue.ack(delivery).await.unwrap();

    // Its key lapsed and another task took it: replaying would do the work twice.
    let lapsed = sample(3).with_idempotency_key("invoice-2", Duration::from_millis(200));
    let lapsed_id = lapsed.id;
    dead(lapsed).await;
    let taker = sample(4).with_idempotency_key("invoice-2", Duration::from_secs(600));
    within(PROMPT, "another task takes the lapsed key", async {
        while queue.publish(taker.clone()).await.unwrap() != Published::Enqueued {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let report = queue
        .replay_dead(&DeadLetterSelection::Task(lapsed_id))
        .await
        .unwrap();
    assert_eq!((report.done, report.duplicates), (0, 1));
    let left: Vec<TaskId> = queue
        .dead_letters(10)
        .await
        .unwrap()
        .iter()
        .map(|letter| letter.task.id)
        .collect();
    assert_eq!(left, [lapsed_id], "the refused dead letter stays");
    let delivery = within(PROMPT, "the taker", queue.consume()).await.unwrap();
    assert_eq!(delivery.task().id, taker.id);
    queue.ack(delivery).await.unwrap();
    assert_nothing_within(&*queue, Duration::from_millis(200), "no second run").await;
}

/// A delivery put aside (a limit said "not yet") is not delivered before its delay, then is,
/// with the attempt not charged and nothing counted as a retry.
pub async fn a_deferred_delivery_comes_back_later_uncharged(factory: &dyn QueueFactory) {
    let queue = factory.create(ConformanceSpec::default()).await;
    queue.publish(sample(1)).await.unwrap();
    let delivery = within(PROMPT, "consume", queue.consume()).await.unwrap();
    assert_eq!(delivery.task().attempt, 1);
    let deferred_at = std::time::Instant::now();
    let delay = Duration::from_millis(500);
    queue.defer(delivery, delay).await.unwrap();
    let again = within(PROMPT, "the deferred task", queue.consume())
        .await
        .unwrap();
    assert!(
        deferred_at.elapsed() >= delay,
        "back after {:?}, before its delay",
        deferred_at.elapsed()
    );
    assert_eq!(again.task().attempt, 1, "the attempt is not charged");
    queue.ack(again).await.unwrap();
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.retried, stats.acked), (0, 1));
}

/// An operator replays one dead letter by its task, or all of them, or purges them: a
/// replayed task is delivered again with its attempts reset, a purged one is gone.
pub async fn dead_letters_are_replayed_and_purged_by_task(factory: &dyn QueueFactory) {
    use plba_contracts::{DeadLetterReport, DeadLetterSelection};
    let queue = factory.create(ConformanceSpec::default()).await;
    let mut ids = Vec::new();
    for n in 10..13 {
        let task = sample(n);
        ids.push(task.id);
        queue.publish(task).await.unwrap();
        let delivery = within(PROMPT, "consume", queue.consume()).await.unwrap();
        queue.dead_letter(delivery, "store down").await.unwrap();
    }
    assert_eq!(queue.dead_letters(10).await.unwrap().len(), 3);
    let one = queue
        .replay_dead(&DeadLetterSelection::Task(ids[1]))
        .await
        .unwrap();
    assert_eq!(
        one,
        DeadLetterReport {
            done: 1,
            ..DeadLetterReport::default()
        }
    );
    let again = within(PROMPT, "consume the replayed task", queue.consume())
        .await
        .unwrap();
    assert_eq!(again.task().id, ids[1]);
    assert_eq!(again.task().attempt, 1, "attempts start over");
    queue.ack(again).await.unwrap();
    let purged = queue
        .purge_dead(&DeadLetterSelection::Task(ids[0]))
        .await
        .unwrap();
    assert_eq!(purged.done, 1);
    let left: Vec<_> = queue
        .dead_letters(10)
        .await
        .unwrap()
        .into_iter()
        .map(|letter| letter.task.id)
        .collect();
    assert_eq!(left, [ids[2]]);
    assert_eq!(
        queue
            .purge_dead(&DeadLetterSelection::All)
            .await
            .unwrap()
            .done,
        1
    );
    assert_eq!(queue.stats().await.unwrap().dead, 0);
    assert_eq!(
        queue
            .replay_dead(&DeadLetterSelection::Task(ids[2]))
            .await
            .unwrap(),
        DeadLetterReport::default(),
        "nothing left to replay"
    );
}

/// A released delivery comes back at once with the attempt not charged.
pub async fn release_does_not_charge_an_attempt(factory: &dyn QueueFactory) {
    let queue = factory.create(ConformanceSpec::default()).await;
    queue.publish(sample(5)).await.unwrap();
    let delivery = within(PROMPT, "consume", queue.consume()).await.unwrap();
    queue.release(delivery).await.unwrap();
    let again = within(PROMPT, "consume after release", queue.consume())
        .await
        .unwrap();
    assert_eq!(again.task().attempt, 1);
    queue.ack(again).await.unwrap();
}

/// A full bounded queue makes the producer wait; consuming one task lets it through.
pub async fn full_queue_makes_the_producer_wait(factory: &dyn QueueFactory) {
    if !factory.bounded() {
        return;
    }
    let queue = factory
        .create(ConformanceSpec {
            capacity: 2,
            ..ConformanceSpec::default()
        })
        .await;
    queue.publish(sample(1)).await.unwrap();
    queue.publish(sample(2)).await.unwrap();
    let third = queue.publish(sample(3));
    let mut third = std::pin::pin!(third);
    // Give the publish every chance to complete: it must still be waiting.
    for _ in 0..10 {
        assert!(
            (&mut third).now_or_never().is_none(),
            "publish into a full queue returned"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(
        queue.stats().await.unwrap().depth,
        2,
        "the queue did not grow past its bound"
    );
    let delivery = within(PROMPT, "consume", queue.consume()).await.unwrap();
    within(PROMPT, "publish after room was made", third)
        .await
        .unwrap();
    queue.ack(delivery).await.unwrap();
    assert_eq!(queue.stats().await.unwrap().depth, 2);
}

/// Cancelling a pending consume loses nothing.
pub async fn cancelled_consume_loses_nothing(factory: &dyn QueueFactory) {
    let queue = factory.create(ConformanceSpec::default()).await;
    assert_nothing_within(queue.as_ref(), Duration::from_millis(100), "empty queue").await;
    let task = sample(9);
    queue.publish(task.clone()).await.unwrap();
    let delivery = within(PROMPT, "consume", queue.consume()).await.unwrap();
    assert_eq!(delivery.task().id, task.id);
    queue.ack(delivery).await.unwrap();
}

/// Several concurrent consumers: every task is delivered to exactly one of them.
pub async fn concurrent_consumers_get_each_task_once(factory: &dyn QueueFactory) {
    const TASKS: u32 = 2_000;
    const CONSUMERS: usize = 4;
    let queue = factory.create(ConformanceSpec::default()).await;
    let ids: Vec<TaskId> = {
        let mut ids = Vec::new();
        let producer_queue = Arc::clone(&queue);
        let tasks: Vec<Task> = (0..TASKS).map(sample).collect();
        ids.extend(tasks.iter().map(|t| t.id));
        tokio::spawn(async move {
            for task in tasks {
                producer_queue.publish(task).await.unwrap();
            }
        });
        ids
    };
    let seen = Arc::new(std::sync::Mutex::new(HashMap::<TaskId, u32>::new()));
    let done = Arc::new(tokio::sync::Semaphore::new(0));
    let mut consumers = Vec::new();
    for _ in 0..CONSUMERS {
        let queue = Arc::clone(&queue);
        let seen = Arc::clone(&seen);
        let done = Arc::clone(&done);
        consumers.push(tokio::spawn(async move {
            loop {
                let delivery = queue.consume().await.unwrap();
                *seen
                    .lock_or_recover()
                    .entry(delivery.task().id)
                    .or_default() += 1;
                queue.ack(delivery).await.unwrap();
                done.add_permits(1);
            }
        }));
    }
    within(PROMPT * 6, "all tasks consumed", done.acquire_many(TASKS))
        .await
        .unwrap()
        .forget();
    for consumer in &consumers {
        consumer.abort();
    }
    {
        let seen = seen.lock_or_recover();
        assert_eq!(seen.len(), ids.len(), "every task delivered");
        assert!(seen.values().all(|&n| n == 1), "a task was delivered twice");
    }
    let stats = queue.stats().await.unwrap();
    assert_eq!(stats.acked, u64::from(TASKS));
}

/// A delivery settled on another queue is refused, and the issuing queue can still settle it:
/// a receipt identifies its queue.
pub async fn a_delivery_settles_only_on_its_own_queue(factory: &dyn QueueFactory) {
    let first = factory.create(ConformanceSpec::default()).await;
    let other = factory.create(ConformanceSpec::default()).await;
    first.publish(sample(1)).await.unwrap();
    let delivery = within(PROMPT, "delivery", first.consume()).await.unwrap();
    let refused = other.ack(delivery).await;
    assert!(
        matches!(refused, Err(QueueError::WrongQueue { .. })),
        "{refused:?}"
    );
    // Refused before anything was settled, on either queue.
    assert_eq!(first.stats().await.unwrap().acked, 0);
    assert_eq!(other.stats().await.unwrap().acked, 0);
}

/// Expands to one `#[tokio::test]` per conformance check for the given factory expression.
/// The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.
#[macro_export]
macro_rules! task_queue_conformance {
    ($factory:expr) => {
        $crate::task_queue_conformance!(@tests $factory;
            publish_consume_ack,
            stats_track_depth_and_in_flight,
            nack_redelivers_with_attempt_counted,
            nack_with_delay_redelivers_after_the_delay,
            dead_letter_after_max_attempts,
            dead_letter_at_once_on_request,
            dead_letters_are_replayed_and_purged_by_task,
            release_does_not_charge_an_attempt,
            full_queue_makes_the_producer_wait,
            cancelled_consume_loses_nothing,
            concurrent_consumers_get_each_task_once,
            a_delivery_settles_only_on_its_own_queue,
            a_delayed_task_is_delivered_at_its_time,
            a_keyed_publish_is_a_reported_no_op_while_the_key_lives,
            a_replay_does_not_bypass_the_idempotency_key,
            a_deferred_delivery_comes_back_later_uncharged,
        );
    };
    (@tests $factory:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let factory = $factory;
                $crate::queue::$check(&factory).await;
            }
        )*
    };
}

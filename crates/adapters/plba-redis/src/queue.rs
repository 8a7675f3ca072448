//! The Redis Streams queue itself: connecting, and the `TaskQueue` operations (publish,
//! consume, settle, stats, dead letters). Replies are read in `reply.rs`, the background
//! upkeep runs in `maintenance.rs`, the dead-letter stream is handled in `dead.rs`.

use plba_util::{GroupCommit, Unpoisoned};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plba_contracts::{
    DeadLetter, DeadLetterReport, DeadLetterSelection, Delivery, NackOutcome, Published,
    QueueError, QueueStats, Receipt, Task, TaskQueue, TryAck, async_trait,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, RedisError, Value};

use crate::acks::{Acks, NoRoom, write_behind};
use crate::condition::{LostListeners, is_missing_group, is_outage};
use crate::dead::{self, Content, ReplayReport};
use crate::error::{RedisQueueError, SharedRedisError, unavailable, unavailable_because};
use crate::keyed;
use crate::options::RedisQueueOptions;
use crate::outage::{OUTAGE_BACKOFF, OutagePause};
use crate::reply::{
    Entry, group_consumers, group_last_delivered, pending_count, read_group_entries, stream_entries,
};
use crate::shared::Shared;
use crate::wire::{DecodeError, TASK_FIELD, decode, due_in_ms, encode, now_ms, push_task};

/// A task queue in Redis Streams, shared by every process that opens the same name on the
/// same Redis. Cheap to clone.
#[derive(Clone)]
pub struct RedisQueue {
    shared: Arc<Shared>,
    readers: Arc<Readers>,
    /// Deliveries read ahead (`prefetch`), handed out before the next read.
    prefetched: Arc<Mutex<VecDeque<Delivery>>>,
    /// Acks waiting to be written (see `acks.rs`).
    acks: Arc<Acks>,
    /// Concurrent publishes, written in one transaction.
    /// Encoded tasks and when each is due (ms since the epoch; 0 = now).
    publishes: Arc<GroupCommit<(String, u64), Result<(), QueueError>>>,
}

/// Most publishes one transaction writes.
const MAX_PUBLISHES: usize = 512;

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the options: the URL may hold a password.
        f.debug_struct("RedisQueue")
            .field("name", &self.shared.name)
            .field("consumer", &self.shared.consumer)
            .finish_non_exhaustive()
    }
}

/// Connections for blocking reads, one per concurrent `consume`: a blocking read would stall
/// every other command on a shared connection.
struct Readers {
    client: Client,
    idle: Mutex<Vec<MultiplexedConnection>>,
}

/// The longest `stats` waits for Redis: status and metrics are served to probes and
/// scrapers with their own short timeouts, and must answer whatever Redis does.
const STATS_TIMEOUT: Duration = Duration::from_millis(300);

impl RedisQueue {
    /// Connects, creates the consumer group when missing, and starts the maintenance task
    /// (delayed tasks, janitor, heartbeat, lost-contents watch) on the current tokio runtime.
    pub async fn connect(
        name: impl Into<String>,
        options: RedisQueueOptions,
    ) -> Result<Self, RedisQueueError> {
        Self::connect_with(name.into(), options, Arc::default()).await
    }

    /// [`connect`](Self::connect), telling `lost` when the contents are lost.
    pub(crate) async fn connect_with(
        name: String,
        options: RedisQueueOptions,
        lost: Arc<LostListeners>,
    ) -> Result<Self, RedisQueueError> {
        if let Err(error) = options.check() {
            return Err(RedisQueueError::Invalid {
                queue: name,
                source: error,
            });
        }
        let client = Client::open(options.url.as_str())
            .map_err(|e| RedisQueueError::url(name.as_str(), e))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(options.command_timeout()))
            .set_connection_timeout(Some(options.command_timeout()));
        let commands = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|e| RedisQueueError::unreachable(name.as_str(), e))?;
        let acks = Arc::new(Acks::new(options.ack_window, options.ack_delay()));
        let shared = Shared::connect(Arc::from(name.as_str()), options, commands, lost)
            .await
            .map_err(|e| RedisQueueError::unreachable(name, e))?;
        let queue = Self {
            shared: Arc::new(shared),
            readers: Arc::new(Readers {
                client,
                idle: Mutex::new(Vec::new()),
            }),
            prefetched: Arc::default(),
            acks,
            publishes: Arc::new(GroupCommit::new(MAX_PUBLISHES)),
        };
        tokio::spawn(crate::maintenance::run(Arc::downgrade(&queue.shared)));
        tokio::spawn(write_behind(
            Arc::clone(&queue.acks),
            Arc::downgrade(&queue.shared),
        ));
        Ok(queue)
    }

    /// A health contributor for this queue: unhealthy while no task can be consumed (Redis
    /// unreachable, or the consumer group missing and not recreated yet), ok otherwise. It
    /// answers from what the queue's own round trips found, never waiting on Redis.
    pub fn health_contributor(&self) -> Arc<dyn plba_contracts::HealthContributor> {
        Arc::new(crate::health::RedisHealth::new(Arc::clone(
            &self.shared.condition,
        )))
    }

    /// Calls `listener` whenever this queue finds that Redis lost its contents (restarted
    /// without its data, `FLUSHALL`, the keys deleted): the tasks published before are gone,
    /// so whoever published them and still waits for them to complete must publish them
    /// again. Every process using the queue is told, whichever one recreated it.
    pub fn on_contents_lost(&self, listener: impl Fn() + Send + Sync + 'static) {
        self.shared.on_lost(listener);
    }

    /// How many times the contents were found lost since this queue connected.
    pub fn contents_lost(&self) -> u64 {
        self.shared.losses()
    }

    /// This queue's consumer name in the group.
    pub fn consumer(&self) -> &str {
        &self.shared.consumer
    }

    /// Moves every dead letter back into the queue with a fresh attempt count. Corrupt
    /// entries (see [`CORRUPT_ENTRY`](crate::CORRUPT_ENTRY)) cannot become tasks: they are
    /// skipped, counted in the report, and stay in the dead letters for an operator to read.
    pub async fn replay_dead_letters(&self) -> Result<ReplayReport, QueueError> {
        let report = dead::replay(&self.shared, &DeadLetterSelection::All).await?;
        Ok(ReplayReport {
            replayed: usize::try_from(report.done).unwrap_or(usize::MAX),
            kept_corrupt: usize::try_from(report.kept).unwrap_or(usize::MAX),
        })
    }

    async fn reader(&self) -> Result<MultiplexedConnection, RedisError> {
        if let Some(conn) = self.readers.idle.lock_or_recover().pop() {
            return Ok(conn);
        }
        // The response timeout must outlast BLOCK, or the client gives up on a read the
        // server still holds open, and the next entry goes to a reader nobody listens to.
        let options = &self.shared.options;
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(Some(options.block() + Duration::from_secs(5)))
            .set_connection_timeout(Some(options.command_timeout()));
        self.readers
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    fn return_reader(&self, reader: MultiplexedConnection) {
        self.readers.idle.lock_or_recover().push(reader);
    }

    fn receipt_id(&self, delivery: &Delivery) -> Result<String, QueueError> {
        let receipt = delivery.receipt();
        receipt.check_queue(&self.shared.name)?;
        receipt
            .key()
            .map(str::to_owned)
            .ok_or_else(|| QueueError::Misuse {
                queue: self.shared.name.to_string(),
                reason: "a delivery without a stream entry id was settled here".to_owned(),
            })
    }

    /// Acks and deletes `id` and runs `then` in the same transaction.
    async fn settle(&self, id: &str, then: redis::Pipeline) -> Result<(), QueueError> {
        let shared = &self.shared;
        let mut pipe = then;
        pipe.cmd("XACK")
            .arg(&shared.keys.stream)
            .arg(&shared.options.group)
            .arg(id)
            .ignore()
            .cmd("XDEL")
            .arg(&shared.keys.stream)
            .arg(id)
            .ignore();
        let mut conn = shared.commands.clone();
        let result = pipe.query_async::<()>(&mut conn).await;
        shared.observe(&result);
        shared.in_hand.let_go(id);
        result.map_err(|e| unavailable(&shared.name, e))
    }
}

impl RedisQueue {
    /// Adds the encoded `tasks` in one transaction — to the stream, or to the delayed set
    /// when due later — counting them published.
    async fn publish_batch(&self, tasks: Vec<(String, u64)>) -> Vec<Result<(), QueueError>> {
        let shared = &self.shared;
        let count = tasks.len();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (task, due) in tasks {
            if due > 0 {
                pipe.cmd("ZADD")
                    .arg(&shared.keys.delayed)
                    .arg(due)
                    .arg(task)
                    .ignore();
            } else {
                pipe.add_command(push_task(&shared.keys.stream, task))
                    .ignore();
            }
        }
        pipe.cmd("HINCRBY")
            .arg(&shared.keys.stats)
            .arg("published")
            .arg(count)
            .ignore();
        let mut conn = shared.commands.clone();
        let result = pipe.query_async::<()>(&mut conn).await;
        shared.observe(&result);
        match result {
            Ok(()) => (0..count).map(|_| Ok(())).collect(),
            Err(error) => {
                let error = Arc::new(error);
                (0..count)
                    .map(|_| {
                        Err(unavailable(
                            &shared.name,
                            SharedRedisError(Arc::clone(&error)),
                        ))
                    })
                    .collect()
            }
        }
    }

    /// Moves an entry that is not a task aside: bad stored data never stops the queue; it
    /// goes, raw, with the reason, where `dead_letters` shows it.
    async fn set_aside(&self, entry: &Entry, error: &DecodeError) -> Result<(), QueueError> {
        let shared = &self.shared;
        let reason = format!("corrupt entry: {}", plba_util::error_chain(error));
        tracing::error!(queue = %shared.name, entry = %entry.id, %reason, "corrupt entry moved to the dead letters");
        let raw = dead::corrupt_bytes(entry);
        let mut pipe = redis::pipe();
        pipe.atomic();
        dead::add(&mut pipe, shared, Content::Corrupt(&raw), &reason);
        self.settle(&entry.id, pipe).await
    }
}

#[async_trait]
impl TaskQueue for RedisQueue {
    fn name(&self) -> &str {
        &self.shared.name
    }

    /// Returns once the task is stored; publishes made meanwhile by other callers are
    /// written with it, in one transaction. A delayed task goes to the delayed set (kept by
    /// Redis across restarts of the bots), a task with an idempotency key through one script
    /// that checks the key and adds the task together.
    async fn publish(&self, task: Task) -> Result<Published, QueueError> {
        if let Some((key, ttl)) = task.idempotency_key() {
            return keyed::publish(&self.shared, &task, key, ttl).await;
        }
        self.publishes
            .submit((encode(&task, 0), keyed::due_ms(&task)), |tasks| {
                self.publish_batch(tasks)
            })
            .await
            .unwrap_or_else(|| {
                Err(unavailable_because(
                    &self.shared.name,
                    "the publish was abandoned with its batch",
                ))
            })
            .map(|()| Published::Enqueued)
    }

    /// Waits for a task, and through an outage too: while Redis is unreachable or
    /// loading it retries (pausing up to a second), and when the stream or the consumer
    /// group is gone it recreates them. Either is the queue's to handle; failing would
    /// only make the worker restart, back off, and be taken for broken long after Redis is
    /// back. The queue's health says meanwhile that nothing can be consumed.
    async fn consume(&self) -> Result<Delivery, QueueError> {
        let shared = &self.shared;
        if let Some(delivery) = self.prefetched.lock_or_recover().pop_front() {
            return Ok(delivery);
        }
        let mut pause = OutagePause::new(OUTAGE_BACKOFF);
        let mut recreated = false;
        loop {
            let mut reader = match self.reader().await {
                Ok(reader) => reader,
                Err(error) if is_outage(&error) => {
                    shared.condition.unreachable(&shared.name, &error);
                    pause.after_failure().await;
                    continue;
                }
                Err(error) => return Err(unavailable(&shared.name, error)),
            };
            let reply: Result<Value, _> = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(&shared.options.group)
                .arg(&shared.consumer)
                .arg("COUNT")
                .arg(shared.options.prefetch)
                .arg("BLOCK")
                .arg(shared.options.block_ms)
                .arg("STREAMS")
                .arg(&shared.keys.stream)
                .arg(">")
                .query_async(&mut reader)
                .await;
            shared.observe(&reply);
            let reply = match reply {
                Ok(reply) => reply,
                Err(error) if is_missing_group(&error) => {
                    // Redis lost the group (or the whole stream): recreate both through
                    // this connection, which works, and read again.
                    shared.condition.group_missing(error.to_string());
                    let ensured = shared.ensure_group(&mut reader).await;
                    self.return_reader(reader);
                    if let Err(error) = ensured {
                        tracing::debug!(queue = %shared.name, %error, "recreating the consumer group failed; will retry");
                    }
                    // Straight back to reading the first time; should the group keep
                    // vanishing (or fail to be made), pause rather than hammer Redis.
                    if recreated {
                        pause.after_failure().await;
                    }
                    recreated = true;
                    continue;
                }
                Err(error) if is_outage(&error) => {
                    // The connection is dropped with the error; the next round opens one.
                    pause.after_failure().await;
                    continue;
                }
                Err(error) => return Err(unavailable(&shared.name, error)),
            };
            pause.reset();
            recreated = false;
            self.return_reader(reader);
            let mut first = None;
            for entry in read_group_entries(&reply) {
                let decoded = entry
                    .field(TASK_FIELD)
                    .ok_or(DecodeError::Missing)
                    .and_then(decode);
                let mut task = match decoded {
                    Ok(task) => task,
                    Err(error) => {
                        self.set_aside(&entry, &error).await?;
                        continue;
                    }
                };
                task.attempt = task.attempt.saturating_add(1);
                // Held from the read on: the heartbeat keeps a prefetched entry as alive
                // as one in a handler.
                shared.in_hand.hold(&entry.id);
                let delivery =
                    Delivery::new(task, Receipt::from_key(Arc::clone(&shared.name), entry.id));
                match first {
                    None => first = Some(delivery),
                    Some(_) => self.prefetched.lock_or_recover().push_back(delivery),
                }
            }
            if let Some(delivery) = first {
                return Ok(delivery);
            }
        }
    }

    /// A delivery read ahead by an earlier read, if one waits.
    fn try_consume(&self) -> Option<Result<Delivery, QueueError>> {
        self.prefetched.lock_or_recover().pop_front().map(Ok)
    }

    /// Queues the ack when the window has room now (see [`ack`](TaskQueue::ack)).
    fn try_ack(&self, delivery: Delivery) -> TryAck {
        let id = match self.receipt_id(&delivery) {
            Ok(id) => id,
            Err(error) => return TryAck::Done(Err(error)),
        };
        match self.acks.try_queue(id) {
            Ok(()) => TryAck::Done(Ok(())),
            Err(_) => TryAck::WouldWait(delivery),
        }
    }

    /// Returns once the ack is queued for writing (see `ack_window`): the entry stays in
    /// hand, heartbeated, until written.
    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        let id = self.receipt_id(&delivery)?;
        let shared = &self.shared;
        // Until queued, an ack abandoned (cancelled, or refused for want of room) lets the
        // entry go, so the orphan rescue delivers it again rather than it being heartbeated
        // for as long as the process lives.
        let mut unqueued = LetGoOnDrop {
            shared,
            id: Some(id.clone()),
        };
        let limit = shared.options.command_timeout();
        match self.acks.queue(id, limit).await {
            Ok(()) => {
                unqueued.id = None;
                Ok(())
            }
            Err(NoRoom) => Err(unavailable_because(
                &shared.name,
                format!(
                    "no room for the ack within {limit:?}: {} acks wait for Redis",
                    self.acks.unwritten()
                ),
            )),
        }
    }

    async fn nack(
        &self,
        delivery: Delivery,
        retry_delay: Option<Duration>,
        reason: &str,
    ) -> Result<NackOutcome, QueueError> {
        if delivery.task().attempt >= self.shared.options.max_attempts {
            let reason = format!("attempts exhausted ({}): {reason}", delivery.task().attempt);
            self.dead_letter(delivery, &reason).await?;
            return Ok(NackOutcome::DeadLettered);
        }
        let id = self.receipt_id(&delivery)?;
        let shared = &self.shared;
        let stored = encode(delivery.task(), delivery.task().attempt);
        let mut pipe = redis::pipe();
        pipe.atomic();
        match retry_delay.filter(|d| !d.is_zero()) {
            Some(delay) => {
                let due = due_in_ms(delay);
                pipe.cmd("ZADD")
                    .arg(&shared.keys.delayed)
                    .arg(due)
                    .arg(stored)
                    .ignore();
            }
            None => {
                pipe.add_command(push_task(&shared.keys.stream, stored))
                    .ignore();
            }
        }
        pipe.cmd("HINCRBY")
            .arg(&shared.keys.stats)
            .arg("retried")
            .arg(1)
            .ignore();
        self.settle(&id, pipe).await?;
        Ok(NackOutcome::Requeued)
    }

    async fn dead_letter(&self, delivery: Delivery, reason: &str) -> Result<(), QueueError> {
        let id = self.receipt_id(&delivery)?;
        let shared = &self.shared;
        let task = delivery.task();
        tracing::warn!(queue = %shared.name, task_id = %task.id, attempt = task.attempt, reason, "task dead-lettered");
        let mut pipe = redis::pipe();
        pipe.atomic();
        let stored = Content::Task(encode(task, task.attempt));
        dead::add(&mut pipe, shared, stored, reason);
        self.settle(&id, pipe).await
    }

    async fn release(&self, delivery: Delivery) -> Result<(), QueueError> {
        let id = self.receipt_id(&delivery)?;
        let shared = &self.shared;
        let attempt = delivery.task().attempt.saturating_sub(1);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .add_command(push_task(
                &shared.keys.stream,
                encode(delivery.task(), attempt),
            ))
            .ignore();
        self.settle(&id, pipe).await
    }

    /// To the delayed set, attempt unchanged, in the same transaction that settles the entry.
    async fn defer(&self, delivery: Delivery, delay: Duration) -> Result<(), QueueError> {
        let id = self.receipt_id(&delivery)?;
        let shared = &self.shared;
        let attempt = delivery.task().attempt.saturating_sub(1);
        let due = due_in_ms(delay);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("ZADD")
            .arg(&shared.keys.delayed)
            .arg(due)
            .arg(encode(delivery.task(), attempt))
            .ignore();
        self.settle(&id, pipe).await
    }

    /// Live counts, or at once an error while Redis is known to be unusable; a Redis that
    /// does not answer within a fraction of a second is an error too (status and metrics
    /// must answer whatever Redis does).
    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let shared = &self.shared;
        if let Some(reason) = shared.condition.blocked() {
            return Err(unavailable_because(&shared.name, reason));
        }
        let mut conn = shared.commands.clone();
        type Replies = (u64, Value, u64, u64, Vec<(String, u64)>, Value);
        let mut pipe = redis::pipe();
        pipe.cmd("XLEN")
            .arg(&shared.keys.stream)
            .cmd("XPENDING")
            .arg(&shared.keys.stream)
            .arg(&shared.options.group)
            .cmd("ZCARD")
            .arg(&shared.keys.delayed)
            .cmd("XLEN")
            .arg(&shared.keys.dead)
            .cmd("HGETALL")
            .arg(&shared.keys.stats)
            .cmd("XINFO")
            .arg("GROUPS")
            .arg(&shared.keys.stream);
        // Acks queued for writing first, so a task acked before the call counts as acked.
        // Then the first entry after the group's last delivered one: the oldest waiting.
        let query = async {
            self.acks.flush().await;
            let replies: Replies = pipe.query_async(&mut conn).await?;
            let oldest = match group_last_delivered(&replies.5, &shared.options.group) {
                Some(last) => {
                    let after: Value = redis::cmd("XRANGE")
                        .arg(&shared.keys.stream)
                        .arg(format!("({last}"))
                        .arg("+")
                        .arg("COUNT")
                        .arg(1)
                        .query_async(&mut conn)
                        .await?;
                    stream_entries(&after).first().and_then(|entry| {
                        let published: u64 = entry.id.split('-').next()?.parse().ok()?;
                        Some(now_ms().saturating_sub(published))
                    })
                }
                None => None,
            };
            Ok::<_, RedisError>((replies, oldest))
        };
        let limit = STATS_TIMEOUT.min(shared.options.command_timeout());
        let ((length, pending, delayed, dead, counters, groups), oldest_waiting_ms): (
            Replies,
            Option<u64>,
        ) = match tokio::time::timeout(limit, query).await {
            Ok(replies) => {
                shared.observe(&replies);
                replies.map_err(|e| unavailable(&shared.name, e))?
            }
            Err(_) => {
                return Err(unavailable_because(
                    &shared.name,
                    format!("Redis did not answer within {limit:?}"),
                ));
            }
        };
        // Entries read ahead into this process wait for a handler: they count as waiting,
        // not as being worked on. (Another process's read-ahead is not known here.)
        let prefetched = self.prefetched.lock_or_recover().len() as u64;
        let in_flight = pending_count(&pending).saturating_sub(prefetched);
        let counter = |name: &str| {
            counters
                .iter()
                .find(|(k, _)| k == name)
                .map_or(0, |(_, v)| *v)
        };
        Ok(QueueStats {
            depth: length.saturating_sub(in_flight),
            in_flight,
            delayed,
            dead,
            published: counter("published"),
            acked: counter("acked"),
            retried: counter("retried"),
            capacity: None,
            consumers: group_consumers(&groups, &shared.options.group),
            oldest_waiting_ms,
        })
    }

    /// The newest dead letters, newest first — corrupt entries too, each under a
    /// [`CORRUPT_ENTRY`](crate::CORRUPT_ENTRY) stand-in task holding its raw bytes.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        dead::list(&self.shared, limit).await
    }

    /// Corrupt entries cannot become tasks: replaying all keeps them (counted as kept).
    async fn replay_dead(
        &self,
        which: &DeadLetterSelection,
    ) -> Result<DeadLetterReport, QueueError> {
        dead::replay(&self.shared, which).await
    }

    async fn purge_dead(
        &self,
        which: &DeadLetterSelection,
    ) -> Result<DeadLetterReport, QueueError> {
        dead::purge(&self.shared, which).await
    }

    /// Gives the read-ahead entries back to the stream (attempt unchanged), where any
    /// consumer takes them at once, and writes the queued acks; each step waits at most the
    /// command timeout. What cannot be done now is done by the visibility timeout: the
    /// entries are delivered again.
    async fn stop_consuming(&self) -> Result<(), QueueError> {
        let shared = &self.shared;
        let limit = shared.options.command_timeout();
        let read_ahead: Vec<Delivery> = self.prefetched.lock_or_recover().drain(..).collect();
        let gave_back = if read_ahead.is_empty() {
            Ok(())
        } else {
            let ids: Vec<String> = read_ahead
                .iter()
                .filter_map(|d| d.receipt().key().map(str::to_owned))
                .collect();
            // Let go first: were this call dropped midway, the entries would otherwise stay
            // in hand for good. The orphan rescue racing the give-back is harmless: the
            // script republishes an entry only while it still exists.
            for id in &ids {
                shared.in_hand.let_go(id);
            }
            let given = tokio::time::timeout(limit, give_back(shared, &ids)).await;
            match given {
                Ok(given) => given.map_err(|e| unavailable(&shared.name, e)),
                Err(_) => Err(unavailable_because(
                    &shared.name,
                    format!("read-ahead entries not given back within {limit:?}"),
                )),
            }
        };
        let flushed = tokio::time::timeout(limit, self.acks.flush()).await;
        gave_back?;
        flushed.map_err(|_| {
            unavailable_because(
                &shared.name,
                format!(
                    "{} acks not written within {limit:?}",
                    self.acks.unwritten()
                ),
            )
        })
    }
}

/// Lets entry `id` go from the entries in hand when dropped, unless `id` was taken.
struct LetGoOnDrop<'a> {
    shared: &'a Shared,
    id: Option<String>,
}

impl Drop for LetGoOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.shared.in_hand.let_go(&id);
        }
    }
}

/// Publishes `ids` again as new entries (attempt unchanged) and settles the old ones.
async fn give_back(shared: &Shared, ids: &[String]) -> Result<(), RedisError> {
    let script = redis::Script::new(crate::scripts::RESCUE);
    let mut invocation = script.key(&shared.keys.stream);
    invocation.arg(&shared.options.group);
    for id in ids {
        invocation.arg(id);
    }
    let mut conn = shared.commands.clone();
    let given = invocation.invoke_async::<i64>(&mut conn).await;
    shared.observe(&given);
    given.map(drop)
}

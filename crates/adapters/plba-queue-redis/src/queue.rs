//! The Redis Streams queue.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plba_contracts::{
    DeadLetter, Delivery, NackOutcome, QueueError, QueueStats, Receipt, Task, TaskQueue,
    async_trait,
};
use redis::aio::ConnectionLike;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, RedisError, Script, Value};

use crate::condition::{Condition, LostListeners, is_missing_group, is_outage};
use crate::keys::Keys;
use crate::options::{RedisQueueError, RedisQueueOptions};
use crate::scripts::{ENSURE_GROUP, MOVE_DUE, RECLAIM, RESCUE};
use crate::wire::{decode, encode, now_ms};

/// A task queue in Redis Streams, shared by every process that opens the same name on the
/// same Redis. Cheap to clone.
#[derive(Clone)]
pub struct RedisQueue {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    /// The name again, shared by every receipt (no allocation per delivery).
    receipt_queue: Arc<str>,
    keys: Keys,
    options: RedisQueueOptions,
    client: Client,
    commands: ConnectionManager,
    /// Connections for blocking reads, one per concurrent `consume` (a blocking read would
    /// stall every other command on a shared connection).
    readers: Mutex<Vec<MultiplexedConnection>>,
    /// Unique per process start, so a restarted process never inherits a dead one's entries
    /// by name: the janitor hands those over after the visibility timeout.
    consumer: String,
    /// Entries handed out and not yet settled, kept alive by the heartbeat.
    leased: Mutex<HashSet<String>>,
    move_due: Script,
    reclaim: Script,
    rescue: Script,
    ensure_group: Script,
    /// What health and stats report without a round trip.
    condition: Arc<Condition>,
    /// Told when the queue's contents were lost.
    lost: Arc<LostListeners>,
    /// The queue's epoch as this process last saw it (see `scripts::ENSURE_GROUP`).
    epoch: Mutex<String>,
    /// How many times the contents were lost while this queue was open.
    losses: AtomicU64,
}

/// The first pause of a consumer waiting for Redis to come back; it doubles up to
/// [`OUTAGE_PAUSE_MAX`], so a consumer notices the return within a second.
const OUTAGE_PAUSE_MIN: Duration = Duration::from_millis(50);
const OUTAGE_PAUSE_MAX: Duration = Duration::from_secs(1);

/// The longest `stats` waits for Redis: status and metrics are served to probes and
/// scrapers with their own short timeouts, and must answer whatever Redis does.
const STATS_TIMEOUT: Duration = Duration::from_millis(300);

fn unavailable(queue: &str, error: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable {
        queue: queue.to_owned(),
        reason: error.to_string(),
    }
}

/// `host-pid-start`: unique per process start, readable in `XINFO CONSUMERS` and lease keys.
pub(crate) fn process_identity() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    format!("{host}-{}-{nanos:x}", std::process::id())
}

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
                reason: error.to_string(),
            });
        }
        let client = Client::open(options.url.as_str()).map_err(|e| RedisQueueError::Url {
            queue: name.clone(),
            reason: e.to_string(),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(options.command_timeout()))
            .set_connection_timeout(Some(options.command_timeout()));
        let unreachable = |e: redis::RedisError| RedisQueueError::Unreachable {
            queue: name.clone(),
            reason: e.to_string(),
        };
        let mut commands = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(unreachable)?;
        let keys = Keys::new(&options.prefix, &name);
        let ensure_group = Script::new(ENSURE_GROUP);
        // The epoch seen now is the baseline: only a later change means a loss.
        let epoch: String = ensure_group
            .key(&keys.stream)
            .key(&keys.epoch)
            .arg(&options.group)
            .arg(process_identity())
            .invoke_async(&mut commands)
            .await
            .map_err(unreachable)?;
        let queue = Self {
            inner: Arc::new(Inner {
                receipt_queue: Arc::from(name.as_str()),
                name,
                keys,
                client,
                commands,
                readers: Mutex::new(Vec::new()),
                consumer: process_identity(),
                leased: Mutex::new(HashSet::new()),
                move_due: Script::new(MOVE_DUE),
                reclaim: Script::new(RECLAIM),
                rescue: Script::new(RESCUE),
                ensure_group,
                condition: Arc::default(),
                lost,
                epoch: Mutex::new(epoch),
                losses: AtomicU64::new(0),
                options,
            }),
        };
        tokio::spawn(maintain(Arc::downgrade(&queue.inner)));
        Ok(queue)
    }

    /// A health contributor for this queue: unhealthy while no task can be consumed (Redis
    /// unreachable, or the consumer group missing and not recreated yet), ok otherwise. It
    /// answers from what the queue's own round trips found, never waiting on Redis.
    pub fn health_contributor(&self) -> Arc<dyn plba_contracts::HealthContributor> {
        Arc::new(crate::health::RedisHealth::new(Arc::clone(
            &self.inner.condition,
        )))
    }

    /// Calls `listener` whenever this queue finds that Redis lost its contents (restarted
    /// without its data, `FLUSHALL`, the keys deleted): the tasks published before are gone,
    /// so whoever published them and still waits for them to complete must publish them
    /// again. Every process using the queue is told, whichever one recreated it.
    pub fn on_contents_lost(&self, listener: impl Fn() + Send + Sync + 'static) {
        self.inner.lost.add(Arc::new(listener));
    }

    /// How many times the contents were found lost since this queue connected.
    pub fn contents_lost(&self) -> u64 {
        self.inner.losses.load(Ordering::Relaxed)
    }

    /// This process's consumer name in the group.
    pub fn consumer(&self) -> &str {
        &self.inner.consumer
    }

    /// Moves every dead letter back into the queue with a fresh attempt count; returns how
    /// many were moved.
    pub async fn replay_dead_letters(&self) -> Result<usize, QueueError> {
        let inner = &self.inner;
        let mut conn = inner.commands.clone();
        let entries: Value = redis::cmd("XRANGE")
            .arg(&inner.keys.dead)
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable(&inner.name, e))?;
        let mut moved = 0;
        for (id, fields) in stream_entries(&entries) {
            let Some(mut task) = field(&fields, "task").and_then(|t| decode(t).ok()) else {
                continue;
            };
            task.attempt = 0;
            redis::pipe()
                .atomic()
                .add_command(push_task(&inner.keys.stream, encode(&task, 0)))
                .ignore()
                .cmd("XDEL")
                .arg(&inner.keys.dead)
                .arg(&id)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| unavailable(&inner.name, e))?;
            moved += 1;
        }
        Ok(moved)
    }

    async fn reader(&self) -> Result<MultiplexedConnection, RedisError> {
        if let Some(conn) = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
        {
            return Ok(conn);
        }
        // The response timeout must outlast BLOCK, or the client gives up on a read the
        // server still holds open, and the next entry goes to a reader nobody listens to.
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(Some(self.inner.options.block() + Duration::from_secs(5)))
            .set_connection_timeout(Some(self.inner.options.command_timeout()));
        self.inner
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    fn return_reader(&self, reader: MultiplexedConnection) {
        self.inner
            .readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(reader);
    }

    fn lease(&self, id: &str) {
        self.inner
            .leased
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned());
    }

    fn unlease(&self, id: &str) {
        self.inner
            .leased
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    fn receipt_id(&self, delivery: &Delivery) -> Result<String, QueueError> {
        let receipt = delivery.receipt();
        receipt.check_queue(&self.inner.name)?;
        receipt
            .key()
            .map(str::to_owned)
            .ok_or_else(|| QueueError::Misuse {
                queue: self.inner.name.clone(),
                reason: "a delivery without a stream entry id was settled here".to_owned(),
            })
    }

    /// Acks and deletes `id` and runs `then` in the same transaction.
    async fn settle(&self, id: &str, then: redis::Pipeline) -> Result<(), QueueError> {
        let inner = &self.inner;
        let mut pipe = then;
        pipe.cmd("XACK")
            .arg(&inner.keys.stream)
            .arg(&inner.options.group)
            .arg(id)
            .ignore()
            .cmd("XDEL")
            .arg(&inner.keys.stream)
            .arg(id)
            .ignore();
        let mut conn = inner.commands.clone();
        let result = pipe.query_async::<()>(&mut conn).await;
        inner.observe(&result);
        self.unlease(id);
        result.map_err(|e| unavailable(&inner.name, e))
    }
}

impl Inner {
    /// Records what a round trip says about Redis.
    fn observe<T>(&self, result: &Result<T, RedisError>) {
        match result {
            Ok(_) => self.condition.reachable(&self.name),
            Err(error) if is_outage(error) => self.condition.unreachable(&self.name, error),
            // Redis answered, if with an error.
            Err(_) => self.condition.reachable(&self.name),
        }
    }

    /// Recreates the stream and consumer group when missing (through `conn`, any working
    /// connection) and adopts the queue's epoch, announcing a loss when it changed.
    async fn ensure_group(&self, conn: &mut impl ConnectionLike) -> Result<(), RedisError> {
        let epoch: Result<String, _> = self
            .ensure_group
            .key(&self.keys.stream)
            .key(&self.keys.epoch)
            .arg(&self.options.group)
            .arg(process_identity())
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
    fn adopt_epoch(&self, epoch: String) {
        {
            let mut current = self.epoch.lock().unwrap_or_else(|e| e.into_inner());
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
}

/// The `consumers` count of `group` in an `XINFO GROUPS` reply (a list of field/value lists).
fn group_consumers(groups: &Value, group: &str) -> Option<u64> {
    let text = |v: &Value| match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    let Value::Array(groups) = groups else {
        return None;
    };
    groups.iter().find_map(|info| {
        let pairs: Vec<(String, &Value)> = match info {
            Value::Array(items) => items
                .chunks(2)
                .filter_map(|p| Some((text(p.first()?)?, p.get(1)?)))
                .collect(),
            Value::Map(items) => items
                .iter()
                .filter_map(|(k, v)| Some((text(k)?, v)))
                .collect(),
            _ => return None,
        };
        let name = pairs
            .iter()
            .find(|(k, _)| k == "name")
            .and_then(|(_, v)| text(v))?;
        if name != group {
            return None;
        }
        pairs
            .iter()
            .find(|(k, _)| k == "consumers")
            .and_then(|(_, v)| match v {
                Value::Int(n) => u64::try_from(*n).ok(),
                _ => None,
            })
    })
}

/// `XADD <stream> * task <encoded>`: how every task enters a stream.
fn push_task(stream: &str, encoded: String) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream).arg("*").arg("task").arg(encoded);
    cmd
}

/// Entries of an `XRANGE`/`XREADGROUP` reply: `(id, [field, value, …])`.
fn stream_entries(value: &Value) -> Vec<(String, Vec<Vec<u8>>)> {
    let Value::Array(entries) = value else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| match entry {
            Value::Array(pair) if pair.len() == 2 => {
                let id = match &pair[0] {
                    Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                    Value::SimpleString(s) => s.clone(),
                    _ => return None,
                };
                let fields = match &pair[1] {
                    Value::Array(items) => items
                        .iter()
                        .map(|v| match v {
                            Value::BulkString(b) => b.clone(),
                            Value::SimpleString(s) => s.as_bytes().to_vec(),
                            _ => Vec::new(),
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                Some((id, fields))
            }
            _ => None,
        })
        .collect()
}

fn field<'a>(fields: &'a [Vec<u8>], name: &str) -> Option<&'a [u8]> {
    fields
        .chunks(2)
        .find(|pair| pair.first().is_some_and(|k| k == name.as_bytes()))
        .and_then(|pair| pair.get(1))
        .map(Vec::as_slice)
}

/// The entries of the one stream in an `XREADGROUP` reply.
fn read_group_entries(value: &Value) -> Vec<(String, Vec<Vec<u8>>)> {
    match value {
        Value::Array(streams) => streams
            .iter()
            .flat_map(|stream| match stream {
                Value::Array(pair) if pair.len() == 2 => stream_entries(&pair[1]),
                _ => Vec::new(),
            })
            .collect(),
        Value::Map(streams) => streams
            .iter()
            .flat_map(|(_, entries)| stream_entries(entries))
            .collect(),
        _ => Vec::new(),
    }
}

/// Background upkeep while the queue is alive: due delayed tasks back into the stream (each
/// round also tells the health whether Redis answers); every second, the lost-contents watch
/// and the orphan rescue; every visibility timeout / 4, the janitor and the heartbeat.
async fn maintain(inner: Weak<Inner>) {
    let mut last_janitor = tokio::time::Instant::now();
    let mut last_rescue = tokio::time::Instant::now();
    loop {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let interval = inner.options.maintenance_interval();
        let mut conn = inner.commands.clone();
        let moved: Result<i64, _> = inner
            .move_due
            .key(&inner.keys.stream)
            .key(&inner.keys.delayed)
            .arg(now_ms())
            .invoke_async(&mut conn)
            .await;
        inner.observe(&moved);
        if let Err(error) = moved {
            tracing::debug!(queue = %inner.name, %error, "moving delayed tasks failed; will retry");
        }
        if last_rescue.elapsed() >= ORPHAN_CHECK {
            last_rescue = tokio::time::Instant::now();
            watch_epoch(&inner, &mut conn).await;
            rescue_orphans(&inner, &mut conn).await;
        }
        if last_janitor.elapsed() >= inner.options.visibility_timeout() / 4 {
            last_janitor = tokio::time::Instant::now();
            heartbeat(&inner, &mut conn).await;
            let reclaimed: Result<i64, _> = inner
                .reclaim
                .key(&inner.keys.stream)
                .arg(&inner.options.group)
                .arg(format!("{}-janitor", inner.consumer))
                .arg(
                    u64::try_from(inner.options.visibility_timeout().as_millis())
                        .unwrap_or(u64::MAX),
                )
                .invoke_async(&mut conn)
                .await;
            match reclaimed {
                Ok(0) => {}
                Ok(n) => {
                    tracing::warn!(queue = %inner.name, reclaimed = n, "redelivering tasks whose consumer stopped answering");
                }
                Err(error) if is_missing_group(&error) => {
                    recreate_group(&inner, &mut conn, error.to_string()).await;
                }
                Err(error) => {
                    tracing::debug!(queue = %inner.name, %error, "janitor failed; will retry");
                }
            }
        }
        drop(inner);
        tokio::time::sleep(interval).await;
    }
}

/// How often this process looks for its own orphaned entries and checks the queue's epoch.
const ORPHAN_CHECK: Duration = Duration::from_secs(1);

/// Reads the queue's epoch: a new one means another process recreated the queue after a
/// loss; none at all means the keys are gone (Redis restarted empty or was flushed) and
/// nobody recreated them yet, so this process does. Either way the listeners hear of it,
/// even when no consumer of this process ever saw `NOGROUP`.
async fn watch_epoch(inner: &Inner, conn: &mut ConnectionManager) {
    let epoch: Result<Option<String>, _> = redis::cmd("GET")
        .arg(&inner.keys.epoch)
        .query_async(conn)
        .await;
    inner.observe(&epoch);
    match epoch {
        Ok(Some(epoch)) => inner.adopt_epoch(epoch),
        Ok(None) => {
            let why = format!("the queue's keys are gone (no {})", inner.keys.epoch);
            recreate_group(inner, conn, why).await;
        }
        Err(error) => {
            tracing::debug!(queue = %inner.name, %error, "reading the queue's epoch failed; will retry");
        }
    }
}

/// Marks the group missing (health: unhealthy) and recreates it.
async fn recreate_group(inner: &Inner, conn: &mut ConnectionManager, why: String) {
    inner.condition.group_missing(why);
    if let Err(error) = inner.ensure_group(conn).await {
        tracing::debug!(queue = %inner.name, %error, "recreating the consumer group failed; will retry");
    }
}

/// An entry pending for this consumer this long without a lease was never handed to a
/// handler: leases are taken as soon as a read returns.
const ORPHAN_IDLE_MS: u64 = 500;

/// Finds entries the server delivered to this process's consumer that no handler holds —
/// a blocking read cancelled after the server answered it (a `consume` dropped at a stop) —
/// and publishes them again at once, instead of leaving them to the janitor's visibility
/// timeout.
async fn rescue_orphans(inner: &Inner, conn: &mut ConnectionManager) {
    let pending: Result<Value, _> = redis::cmd("XPENDING")
        .arg(&inner.keys.stream)
        .arg(&inner.options.group)
        .arg("IDLE")
        .arg(ORPHAN_IDLE_MS)
        .arg("-")
        .arg("+")
        .arg(100)
        .arg(&inner.consumer)
        .query_async(conn)
        .await;
    let entries = match pending {
        Ok(Value::Array(entries)) => entries,
        Err(error) if is_missing_group(&error) => {
            recreate_group(inner, conn, error.to_string()).await;
            return;
        }
        _ => return,
    };
    let orphans: Vec<String> = {
        let leased = inner.leased.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .filter_map(|entry| match entry {
                Value::Array(fields) => match fields.first() {
                    Some(Value::BulkString(id)) => Some(String::from_utf8_lossy(id).into_owned()),
                    Some(Value::SimpleString(id)) => Some(id.clone()),
                    _ => None,
                },
                _ => None,
            })
            .filter(|id| !leased.contains(id))
            .collect()
    };
    if orphans.is_empty() {
        return;
    }
    let mut invocation = inner.rescue.key(&inner.keys.stream);
    invocation.arg(&inner.options.group);
    for id in &orphans {
        invocation.arg(id);
    }
    match invocation.invoke_async::<i64>(conn).await {
        Ok(n) => {
            tracing::debug!(queue = %inner.name, rescued = n, "republished entries no handler received");
        }
        Err(error) => {
            tracing::debug!(queue = %inner.name, %error, "rescuing orphaned entries failed; will retry");
        }
    }
}

/// Resets the idle time of entries this process is still working on.
async fn heartbeat(inner: &Inner, conn: &mut ConnectionManager) {
    let ids: Vec<String> = inner
        .leased
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    if ids.is_empty() {
        return;
    }
    let result: Result<Value, _> = redis::cmd("XCLAIM")
        .arg(&inner.keys.stream)
        .arg(&inner.options.group)
        .arg(&inner.consumer)
        .arg(0)
        .arg(&ids)
        .arg("JUSTID")
        .query_async(conn)
        .await;
    if let Err(error) = result {
        tracing::debug!(queue = %inner.name, %error, "heartbeat failed");
    }
}

#[async_trait]
impl TaskQueue for RedisQueue {
    fn name(&self) -> &str {
        &self.inner.name
    }

    async fn publish(&self, task: Task) -> Result<(), QueueError> {
        let inner = &self.inner;
        let mut conn = inner.commands.clone();
        let published = redis::pipe()
            .atomic()
            .add_command(push_task(&inner.keys.stream, encode(&task, 0)))
            .ignore()
            .cmd("HINCRBY")
            .arg(&inner.keys.stats)
            .arg("published")
            .arg(1)
            .ignore()
            .query_async::<()>(&mut conn)
            .await;
        inner.observe(&published);
        published.map_err(|e| unavailable(&inner.name, e))
    }

    /// Waits for a task, and through an outage too: while Redis is unreachable or
    /// loading it retries (pausing up to a second), and when the stream or the consumer
    /// group is gone it recreates them. Either is the queue's to handle; failing would
    /// only make the worker restart, back off, and be taken for broken long after Redis is
    /// back. The queue's health says meanwhile that nothing can be consumed.
    async fn consume(&self) -> Result<Delivery, QueueError> {
        let inner = &self.inner;
        let mut pause = OUTAGE_PAUSE_MIN;
        let mut recreated = false;
        loop {
            let mut reader = match self.reader().await {
                Ok(reader) => reader,
                Err(error) if is_outage(&error) => {
                    inner.condition.unreachable(&inner.name, &error);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(OUTAGE_PAUSE_MAX);
                    continue;
                }
                Err(error) => return Err(unavailable(&inner.name, error)),
            };
            let reply: Result<Value, _> = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(&inner.options.group)
                .arg(&inner.consumer)
                .arg("COUNT")
                .arg(1)
                .arg("BLOCK")
                .arg(inner.options.block_ms)
                .arg("STREAMS")
                .arg(&inner.keys.stream)
                .arg(">")
                .query_async(&mut reader)
                .await;
            inner.observe(&reply);
            let reply = match reply {
                Ok(reply) => reply,
                Err(error) if is_missing_group(&error) => {
                    // Redis lost the group (or the whole stream): recreate both through
                    // this connection, which works, and read again.
                    inner.condition.group_missing(error.to_string());
                    let ensured = inner.ensure_group(&mut reader).await;
                    self.return_reader(reader);
                    if let Err(error) = ensured {
                        tracing::debug!(queue = %inner.name, %error, "recreating the consumer group failed; will retry");
                    }
                    // Straight back to reading the first time; should the group keep
                    // vanishing (or fail to be made), pause rather than hammer Redis.
                    if recreated {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(OUTAGE_PAUSE_MAX);
                    }
                    recreated = true;
                    continue;
                }
                Err(error) if is_outage(&error) => {
                    // The connection is dropped with the error; the next round opens one.
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(OUTAGE_PAUSE_MAX);
                    continue;
                }
                Err(error) => return Err(unavailable(&inner.name, error)),
            };
            pause = OUTAGE_PAUSE_MIN;
            recreated = false;
            self.return_reader(reader);
            let Some((id, fields)) = read_group_entries(&reply).into_iter().next() else {
                continue;
            };
            let decoded = field(&fields, "task")
                .ok_or_else(|| "entry has no `task` field".to_owned())
                .and_then(decode);
            match decoded {
                Ok(mut task) => {
                    task.attempt = task.attempt.saturating_add(1);
                    self.lease(&id);
                    return Ok(Delivery::new(
                        task,
                        Receipt::from_key(Arc::clone(&self.inner.receipt_queue), id),
                    ));
                }
                Err(reason) => {
                    // Bad stored data never stops the queue: it is moved aside, with the reason.
                    tracing::error!(queue = %inner.name, entry = %id, %reason, "corrupt entry moved to the dead letters");
                    let raw = field(&fields, "task")
                        .map(|t| String::from_utf8_lossy(t).into_owned())
                        .unwrap_or_default();
                    let mut dead = redis::pipe();
                    dead.atomic()
                        .cmd("XADD")
                        .arg(&inner.keys.dead)
                        .arg("*")
                        .arg("raw")
                        .arg(raw)
                        .arg("reason")
                        .arg(format!("corrupt entry: {reason}"))
                        .arg("dead_at_ms")
                        .arg(now_ms())
                        .ignore();
                    self.settle(&id, dead).await?;
                }
            }
        }
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        let id = self.receipt_id(&delivery)?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HINCRBY")
            .arg(&self.inner.keys.stats)
            .arg("acked")
            .arg(1)
            .ignore();
        self.settle(&id, pipe).await
    }

    async fn nack(
        &self,
        delivery: Delivery,
        retry_delay: Option<Duration>,
        reason: &str,
    ) -> Result<NackOutcome, QueueError> {
        if delivery.task().attempt >= self.inner.options.max_attempts {
            let reason = format!("attempts exhausted ({}): {reason}", delivery.task().attempt);
            self.dead_letter(delivery, &reason).await?;
            return Ok(NackOutcome::DeadLettered);
        }
        let id = self.receipt_id(&delivery)?;
        let inner = &self.inner;
        let stored = encode(delivery.task(), delivery.task().attempt);
        let mut pipe = redis::pipe();
        pipe.atomic();
        match retry_delay.filter(|d| !d.is_zero()) {
            Some(delay) => {
                let due =
                    now_ms().saturating_add(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
                pipe.cmd("ZADD")
                    .arg(&inner.keys.delayed)
                    .arg(due)
                    .arg(stored)
                    .ignore();
            }
            None => {
                pipe.add_command(push_task(&inner.keys.stream, stored))
                    .ignore();
            }
        }
        pipe.cmd("HINCRBY")
            .arg(&inner.keys.stats)
            .arg("retried")
            .arg(1)
            .ignore();
        self.settle(&id, pipe).await?;
        Ok(NackOutcome::Requeued)
    }

    async fn dead_letter(&self, delivery: Delivery, reason: &str) -> Result<(), QueueError> {
        let id = self.receipt_id(&delivery)?;
        let inner = &self.inner;
        tracing::warn!(queue = %inner.name, task_id = %delivery.task().id, attempt = delivery.task().attempt, reason, "task dead-lettered");
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XADD")
            .arg(&inner.keys.dead)
            .arg("*")
            .arg("task")
            .arg(encode(delivery.task(), delivery.task().attempt))
            .arg("reason")
            .arg(reason)
            .arg("dead_at_ms")
            .arg(now_ms())
            .ignore();
        self.settle(&id, pipe).await
    }

    async fn release(&self, delivery: Delivery) -> Result<(), QueueError> {
        let id = self.receipt_id(&delivery)?;
        let inner = &self.inner;
        let attempt = delivery.task().attempt.saturating_sub(1);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .add_command(push_task(
                &inner.keys.stream,
                encode(delivery.task(), attempt),
            ))
            .ignore();
        self.settle(&id, pipe).await
    }

    /// Live counts, or at once an error while Redis is known to be unusable; a Redis that
    /// does not answer within a fraction of a second is an error too (status and metrics
    /// must answer whatever Redis does).
    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let inner = &self.inner;
        if let Some(reason) = inner.condition.blocked() {
            return Err(unavailable(&inner.name, reason));
        }
        let mut conn = inner.commands.clone();
        type Replies = (u64, Value, u64, u64, Vec<(String, u64)>, Value);
        let mut pipe = redis::pipe();
        pipe.cmd("XLEN")
            .arg(&inner.keys.stream)
            .cmd("XPENDING")
            .arg(&inner.keys.stream)
            .arg(&inner.options.group)
            .cmd("ZCARD")
            .arg(&inner.keys.delayed)
            .cmd("XLEN")
            .arg(&inner.keys.dead)
            .cmd("HGETALL")
            .arg(&inner.keys.stats)
            .cmd("XINFO")
            .arg("GROUPS")
            .arg(&inner.keys.stream);
        let query = pipe.query_async(&mut conn);
        let limit = STATS_TIMEOUT.min(inner.options.command_timeout());
        let (length, pending, delayed, dead, counters, groups): Replies =
            match tokio::time::timeout(limit, query).await {
                Ok(replies) => {
                    inner.observe(&replies);
                    replies.map_err(|e| unavailable(&inner.name, e))?
                }
                Err(_) => {
                    return Err(unavailable(
                        &inner.name,
                        format!("Redis did not answer within {limit:?}"),
                    ));
                }
            };
        let in_flight = match &pending {
            Value::Array(summary) => match summary.first() {
                Some(Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
                _ => 0,
            },
            _ => 0,
        };
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
            consumers: group_consumers(&groups, &inner.options.group),
        })
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let inner = &self.inner;
        let mut conn = inner.commands.clone();
        let entries: Value = redis::cmd("XREVRANGE")
            .arg(&inner.keys.dead)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable(&inner.name, e))?;
        Ok(stream_entries(&entries)
            .into_iter()
            .filter_map(|(_, fields)| {
                let task = decode(field(&fields, "task")?).ok()?;
                let reason = field(&fields, "reason")
                    .map(|r| String::from_utf8_lossy(r).into_owned())
                    .unwrap_or_default();
                let dead_at_ms: u64 = field(&fields, "dead_at_ms")
                    .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                    .unwrap_or(0);
                Some(DeadLetter {
                    task,
                    reason,
                    dead_at: UNIX_EPOCH + Duration::from_millis(dead_at_ms),
                })
            })
            .collect())
    }
}

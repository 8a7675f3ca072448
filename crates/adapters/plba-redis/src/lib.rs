//! PLBA on Redis: how it grows past one machine. Several processes on several hosts share
//! one [`TaskQueue`](plba_contracts::TaskQueue) on Redis Streams ([`RedisQueue`]), and
//! through the same server a [`Lease`](plba_contracts::Lease) ([`RedisLease`]), a
//! [`Limiter`](plba_contracts::Limiter) ([`RedisLimiter`]) and a
//! [`ScheduleStore`](plba_contracts::ScheduleStore) ([`RedisScheduleStore`]).
//!
//! The queue:
//!
//! - publish = `XADD`; consume = `XREADGROUP` in one consumer group, with a consumer name
//!   unique to each process start, on dedicated connections whose response timeout exceeds
//!   the `BLOCK` time; ack = `XACK` + `XDEL`.
//! - A transient failure goes to a sorted set of delayed tasks; a Lua script moves due tasks
//!   back into the stream atomically. The attempt count travels inside the stored task.
//! - After `max_attempts`, a task goes to the `<queue>:dead` stream, listable and replayable,
//!   and bounded (`dead_letter_capacity`, oldest dropped). An entry that is not a task at all
//!   goes there too, raw, listed under a [`CORRUPT_ENTRY`] stand-in; replay leaves it there.
//! - Crash recovery: a janitor claims entries pending longer than the visibility timeout
//!   (`XAUTOCLAIM`) and publishes them again with the attempt counted; while a handler runs,
//!   its entry's idle time is reset periodically (heartbeat), so a slow task is not stolen.
//! - Throughput: one read takes up to `prefetch` entries; acks are written behind, in
//!   batches (`ack_window`, `ack_delay_ms`); concurrent publishes share one transaction. A
//!   consumer that stops gives its read-ahead back and writes its acks.
//! - All keys of a queue share one hash slot (`{name}`), so scripts work on Redis Cluster.
//! - Redis losing the queue (restarted without its data, `FLUSHALL`) is survived: consumers
//!   and the maintenance task recreate the stream and group, and every process is told
//!   through [`RedisQueue::on_contents_lost`] so lost work can be published again. While
//!   no task can be consumed the queue's health is unhealthy; health and stats never wait
//!   on Redis.
//!
//! # Mechanics
//!
//! - **Keys**: `<prefix>:{<queue>}:stream`, `:delayed`, `:dead`, `:stats`, `:epoch` and
//!   `:key:<idempotency key>`, all in the queue's hash slot.
//! - **Publishing**: concurrent `publish` calls share one `MULTI` (up to 512 tasks). A task
//!   with an idempotency key goes through a script that checks its key (holding the id of
//!   the task that took it) and adds the task in the same step; replaying such a dead letter
//!   goes through the key as well.
//! - **Reading**: a read takes up to `prefetch` (default 16) entries; those beyond the first
//!   wait in a per-process buffer, held and heartbeated like entries in a handler, and count
//!   as waiting in `stats`. `stop_consuming` gives them back (the `RESCUE` script, attempt
//!   unchanged) and writes the queued acks.
//! - **Acks, written behind** (`acks.rs`): `ack` returns once its id is queued; a writer
//!   task sends the queued ids through one script call (`XACK` + `XDEL` + the `acked`
//!   counter, counting only what `XACK` settled, so a retried call counts nothing twice) at
//!   most `ack_delay_ms` (default 2) after the first of them, at once when half of
//!   `ack_window` (default 128) waits or a flush is asked for (`stats`, `stop_consuming`).
//!   At most `ack_window` acks wait; beyond it `ack` waits for room.
//! - **A nack** moves the entry to the delayed set, or back to the stream, in one `MULTI`
//!   with its `XACK` + `XDEL`.
//! - **Maintenance** (`maintenance.rs`, one task per queue instance): every
//!   `maintenance_interval_ms` (default 50) the `MOVE_DUE` script moves due delayed tasks
//!   back; every second it reads the queue's epoch and rescues this process's orphans —
//!   entries the server delivered to a blocking read that was then cancelled (pending for
//!   this consumer over 500 ms, in no handler's hand), republished with the attempt
//!   unchanged; every quarter of `visibility_timeout_ms` (default 60 s) it heartbeats the
//!   entries in hand (`XCLAIM … JUSTID`) and runs the janitor (`RECLAIM`: a Lua `XAUTOCLAIM`
//!   that republishes entries idle past the visibility timeout, attempt counted).
//! - **A lost queue**: whoever notices first — a consumer's read answered `NOGROUP`, or the
//!   maintenance finding the epoch key gone — runs `ENSURE_GROUP` (`XGROUP CREATE … 0
//!   MKSTREAM`, `BUSYGROUP` ignored, in one script that replaces the epoch whenever it had to
//!   create the group). Every process compares the epoch with the one it saw and, on a
//!   change, calls its `on_contents_lost` listeners.
//! - **Dead letters** (`dead.rs`): written with `XADD … MAXLEN ~ dead_letter_capacity`
//!   (default 10,000, like the memory queue's); Redis trims whole stream nodes, so up to
//!   about 100 more may stay. A stream entry that is not a task is moved there raw
//!   (binary-safe, with the reason), listed under the [`CORRUPT_ENTRY`] stand-in task
//!   (payload: the raw bytes; metadata [`DEAD_LETTER_ID`]: its entry id) and kept by
//!   [`RedisQueue::replay_dead_letters`], whose [`ReplayReport`] counts what it replayed
//!   and the corrupt entries it kept.
//! - **Outages** (`outage.rs`, `condition.rs`): the loops that must not give up (a
//!   consumer's read, the ack writer) pause 50 ms doubling to a second, with equal jitter,
//!   so they notice Redis's return within a second. What the queue's own round trips found
//!   (unreachable since when, group missing) is kept in memory: [`RedisHealth`] answers from
//!   it, and `stats` answers at once with an error while Redis is known to be down and gives
//!   up after 300 ms otherwise.
//! - **Beside the queue**: [`RedisLease`] is `SET NX PX` under `<prefix>:lease:{<name>}`,
//!   renewed and released by its holder only (Lua); [`RedisLimiter`] keeps a GCRA rate and a
//!   slot set per key, checked and taken in one script on Redis's own clock (`TIME`);
//!   [`RedisScheduleStore`] keeps one key per schedule, `<prefix>:schedule:{<name>}`, claimed
//!   by a compare-and-set script. These three connect on first use (building one checks
//!   only the URL); the queue connects in [`RedisQueue::connect`], which a module calls in
//!   its start-up phase, so a Redis that refuses it stops the start.
//!
//! # Invariants
//!
//! - At-least-once: an acked entry stays in hand (heartbeated, never rescued as an orphan)
//!   until its ack is written, so a crash before the write redelivers it — at most
//!   `ack_window` tasks beyond those in handlers.
//! - An entry leaves the stream only when acked, nacked, dead-lettered or released.
//! - The consumer name is unique per process start and per queue opened in it, so a
//!   restarted process never inherits a dead one's pending entries or lease.
//! - A corrupt entry never crashes a consumer and is never hidden: what `stats().dead`
//!   counts, `dead_letters` lists.
//! - `consume` waits out an outage and recreates a lost group instead of failing, so workers
//!   are not restarted into long backoffs; the health is unhealthy exactly while no task can
//!   be consumed, however long that lasts, and never waits on Redis.
//!
//! Layout: `queue.rs` is the queue (connect, the `TaskQueue` operations); `shared.rs` what
//! its handles and its maintenance task share; `maintenance.rs` the background upkeep;
//! `dead.rs` the dead-letter stream; `reply.rs` reads Redis replies (RESP2 and RESP3);
//! `wire.rs` the stored form of a task (one JSON field); `keys.rs` the key names;
//! `identity.rs` the names unique to a process start; `scripts.rs` the Lua scripts;
//! `lease.rs`, `schedule_store.rs` and `limiter.rs` the lease, the schedule store and the
//! limiter that share the queue's Redis, and `lazy_connection.rs` the connection the last
//! two make on first use; `keyed.rs` the idempotent publish and replay; `acks.rs` the ack
//! writer; `condition.rs` what health and stats answer from, `health.rs` the health
//! contributor; `outage.rs` the pauses of the loops that wait out an outage; `options.rs`
//! and `error.rs` the options and the errors.

mod acks;
mod condition;
mod dead;
mod error;
mod health;
mod identity;
mod keyed;
mod keys;
mod lazy_connection;
mod lease;
mod limiter;
mod maintenance;
mod options;
mod outage;
mod queue;
mod reply;
mod schedule_store;
mod scripts;
mod shared;
mod wire;

pub use dead::{CORRUPT_ENTRY, DEAD_LETTER_ID, ReplayReport};
pub use error::RedisQueueError;
pub use health::RedisHealth;
pub use lease::RedisLease;
pub use limiter::RedisLimiter;
pub use options::{RedisQueueOptions, check_url};
pub use queue::RedisQueue;
pub use schedule_store::RedisScheduleStore;

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
//! Layout: `queue.rs` is the queue (connect, the `TaskQueue` operations); `shared.rs` what
//! its handles and its maintenance task share; `maintenance.rs` the background upkeep;
//! `dead.rs` the dead-letter stream; `reply.rs` reads Redis replies (RESP2 and RESP3);
//! `wire.rs` the stored form of a task; `identity.rs` the names unique to a process start;
//! `scripts.rs` the Lua scripts; `lease.rs`, `schedule_store.rs` and `limiter.rs` the lease,
//! the schedule store and the limiter that share the queue's Redis; `keyed.rs` the
//! idempotent publish and replay; `acks.rs` the
//! ack writer; `condition.rs` what health and stats answer from; `outage.rs` the pauses of
//! the loops that wait out an outage.

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

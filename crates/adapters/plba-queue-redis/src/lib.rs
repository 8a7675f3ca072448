//! A [`TaskQueue`](plba_contracts::TaskQueue) on Redis Streams: how PLBA grows past one
//! machine. Several processes on several hosts share one queue.
//!
//! - publish = `XADD`; consume = `XREADGROUP` in one consumer group, with a consumer name
//!   unique to each process start, on dedicated connections whose response timeout exceeds
//!   the `BLOCK` time; ack = `XACK` + `XDEL`.
//! - A transient failure goes to a sorted set of delayed tasks; a Lua script moves due tasks
//!   back into the stream atomically. The attempt count travels inside the stored task.
//! - After `max_attempts`, a task goes to the `<queue>:dead` stream, listable and replayable.
//! - Crash recovery: a janitor claims entries pending longer than the visibility timeout
//!   (`XAUTOCLAIM`) and publishes them again with the attempt counted; while a handler runs,
//!   its entry's idle time is reset periodically (heartbeat), so a slow task is not stolen.
//! - All keys of a queue share one hash slot (`{name}`), so scripts work on Redis Cluster.
//! - Redis losing the queue (restarted without its data, `FLUSHALL`) is survived: consumers
//!   and the maintenance task recreate the stream and group, and every process is told
//!   through [`RedisQueue::on_contents_lost`] so lost work can be published again. While
//!   no task can be consumed the queue's health is unhealthy; health and stats never wait
//!   on Redis.

mod condition;
mod health;
mod keys;
mod lazy;
mod lease;
mod options;
mod queue;
mod scripts;
mod wire;

pub use health::RedisHealth;
pub use lazy::LazyRedisQueue;
pub use lease::RedisLease;
pub use options::{RedisQueueError, RedisQueueOptions, check_url};
pub use queue::RedisQueue;

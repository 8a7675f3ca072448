//! An in-process [`TaskQueue`](plba_contracts::TaskQueue) on async-channel.
//!
//! Bounded (a full queue makes `publish` wait, or fail with `QueueError::Full` under
//! [`OverflowPolicy::Reject`]), with delayed retries, an attempt limit after which tasks go to
//! an inspectable dead-letter list, and stats. Its content lives and dies with the process:
//! use the Redis queue when tasks must survive a crash or be shared between processes.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use plba_contracts::{Task, TaskQueue};
//! use plba_queue_memory::MemoryQueue;
//!
//! let queue = MemoryQueue::named("orders");
//! queue.publish(Task::new("order.created", "42")).await.unwrap();
//! let delivery = queue.consume().await.unwrap();
//! assert_eq!(delivery.task().attempt, 1);
//! queue.ack(delivery).await.unwrap();
//! assert_eq!(queue.stats().await.unwrap().acked, 1);
//! # });
//! ```

mod options;
mod queue;

pub use options::{MemoryQueueError, MemoryQueueOptions, OverflowPolicy};
pub use queue::MemoryQueue;

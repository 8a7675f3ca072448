//! Small helpers every PLBA crate shares, kept out of the contracts (which hold traits and
//! data types only) and out of the runtime (which a domain library may not link):
//!
//! - [`Unpoisoned`] and [`UnpoisonedRw`]: the one way to take a std lock (clippy's
//!   `disallowed-methods` enforces it), recovering from poisoning instead of panicking again;
//! - [`StatusCell`]: a worker's [`WorkerStatus`](plba_contracts::WorkerStatus), published
//!   lock-free from its run loop;
//! - [`error_chain`] and [`panic_message`]: a failure as one line for logs, status and health;
//! - [`GroupCommit`]: jobs submitted while a batch runs are run together in the next (one
//!   transaction, one command for many concurrent callers);
//! - [`printable`]: outside text with its control characters escaped, for terminals and logs;
//! - [`read_limited`]: a file a setting names, read up to a ceiling (a path can name
//!   `/dev/urandom`);
//! - [`ShardedCounter`]: a counter every worker thread bumps per task, in slots of its own
//!   cache line, so the threads do not queue for one.

mod group_commit;
mod printable;
mod read_limited;
mod report;
mod sharded;
mod status_cell;
mod sync;

pub use group_commit::GroupCommit;
pub use printable::printable;
pub use read_limited::{human_bytes, read_limited, read_text_limited};
pub use report::{error_chain, panic_message};
pub use sharded::{CachePadded, SHARDS, ShardedCounter, shard_index};
pub use status_cell::StatusCell;
pub use sync::{Unpoisoned, UnpoisonedRw};

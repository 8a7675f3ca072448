//! What most applications use, in one import: `use plba::prelude::*;`.
//!
//! The module contract and registry, tasks and their errors, a memory queue, a publisher,
//! a pool with a typed JSON handler, schedules and interval workers, the operator's command
//! line ([`Launcher`]), and `run`'s options and error. `Arc` and `Duration` come along
//! because every registration uses them, and `tracing` so a handler can log without another
//! dependency.

pub use std::sync::Arc;
pub use std::time::Duration;

pub use plba_contracts::{
    ApplicationModule, Occurrence, Publisher, Registry, RegistryError, RegistryExt, Schedule,
    ScheduledJob, Task, TaskError, TaskHandler, TaskQueue, WorkerSpec, async_trait,
};
pub use plba_queue_memory::MemoryQueue;
pub use plba_workers::{IntervalWorker, JsonHandler, PublishJob, QueueWorkerPool, Routine};
pub use tracing;

pub use crate::launcher::Launcher;
pub use crate::{PlbaError, PlbaOptions};

//! The PLBA runtime core.
//!
//! - [`RuntimeManager`]: registers application modules, starts their workers, stops them
//!   gracefully (then by force after a timeout), starts them again, and answers status,
//!   health, liveness and readiness.
//! - the worker supervisor (internal, driven by the runtime): runs each worker pool's copies,
//!   restarts failed copies with exponential backoff, and turns a pool unhealthy when it
//!   exceeds its restart budget.
//! - schedules (internal, driven by the runtime): each registered
//!   [`Schedule`](plba_contracts::Schedule) runs as a worker that claims every occurrence in
//!   its store before running it, so instances sharing a store run each occurrence once.
//! - [`signals`]: SIGTERM/SIGINT → graceful stop, a second signal → force.
//!
//! # Lifecycle
//!
//! created → starting → running → stopping → stopped, and starting again after a stop.
//! Registering a module is its async start-up phase (a module connects its resources
//! there) and is all-or-nothing: the registry collects everything and commits only when
//! the whole module registered, and an error aborts start-up before the runtime reports
//! running. `stop` is graceful up to `stop_timeout`; then it forces, and workers get
//! `force_grace` to give back the task in hand (`TaskQueue::release`) before they are
//! aborted. Each pool is a health contributor named `worker:<pool>`.
//!
//! # Schedules
//!
//! `Registry::add_schedule` parses the cadence (an invalid one fails registration, naming
//! the schedule) and registers a non-critical pool `schedule:<name>` running one runner.
//! While it holds the schedule's lease, if any, the runner reads the store's last
//! occurrence, claims each due occurrence before running the job, and naps until the next
//! one — at most a minute, or a lease renewal, so a wall-clock step is noticed. An
//! occurrence noticed more than 2 s (plus a lease renewal) late counts as missed:
//! `Missed::Skip` claims it without running, `Missed::RunOnce` runs the latest. Without a
//! store each process uses its own [`MemoryScheduleStore`]. Each schedule's
//! [`ScheduleStatus`] is in [`RuntimeStatus`].
//!
//! # Invariants
//!
//! - The core is lifecycle, supervision and health wiring only: it reads module sections
//!   through `ConfigProvider`, hands modules a `TaskTracer`, and passes the
//!   `ConfigSubscriber`s they register to a sink ([`SubscriberSink`]); it knows nothing of
//!   files, reloads or exporters.
//! - No panic of a worker, handler or health check reaches the process.
//! - Status and health can be read while a stop is in progress: the lifecycle lock only
//!   serialises start and stop.
//! - A graceful stop never drops a task in hand; a forced one gives it back first.
//! - The runtime owns no OS threads: everything runs on the caller's tokio runtime.
//! - An occurrence runs only after its store's `claim` answered `true`: at most once across
//!   the instances sharing the store.

mod error;
mod registry;
mod runtime;
mod scheduler;
pub mod signals;
mod state;
mod status;
mod supervisor;
mod sync;

pub use error::CoreError;
pub use runtime::{RuntimeManager, RuntimeOptions, StopReport, SubscriberSink};
pub use scheduler::{MemoryScheduleStore, ScheduleStatus};
pub use state::RuntimeState;
pub use status::{CopyStatus, PoolStatus, QueueStatus, RuntimeStatus};

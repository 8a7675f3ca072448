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
//! - [`ServiceContainer`]: typed, named services shared between modules.
//! - [`signals`]: SIGTERM/SIGINT → graceful stop, a second signal → force.

mod container;
mod error;
mod registry;
mod runtime;
mod scheduler;
pub mod signals;
mod state;
mod status;
mod supervisor;
mod sync;

pub use container::ServiceContainer;
pub use error::CoreError;
pub use runtime::{RuntimeManager, RuntimeOptions, StopReport, SubscriberSink};
pub use scheduler::{MemoryScheduleStore, ScheduleStatus};
pub use state::RuntimeState;
pub use status::{CopyStatus, PoolStatus, QueueStatus, RuntimeStatus};

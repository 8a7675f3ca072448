//! The PLBA runtime core.
//!
//! - [`RuntimeManager`]: registers application modules, starts their workers, stops them
//!   gracefully (then by force after a timeout), starts them again, and answers status,
//!   health, liveness and readiness.
//! - the worker supervisor (internal, driven by the runtime): runs each worker pool's copies,
//!   restarts failed copies with exponential backoff, and turns a pool unhealthy when it
//!   exceeds its restart budget.
//! - [`ServiceContainer`]: typed, named services shared between modules.
//! - [`signals`]: SIGTERM/SIGINT → graceful stop, a second signal → force.

mod container;
mod error;
mod registry;
mod runtime;
pub mod signals;
mod state;
mod status;
mod supervisor;
mod sync;

pub use container::ServiceContainer;
pub use error::CoreError;
pub use runtime::{RuntimeManager, RuntimeOptions, StopReport, SubscriberSink};
pub use state::RuntimeState;
pub use status::{CopyStatus, PoolStatus, QueueStatus, RuntimeStatus};

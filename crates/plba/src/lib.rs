//! PLBA: a platform runtime for business applications.
//!
//! This facade is what a launcher depends on: [`create_runtime`] assembles a
//! [`RuntimeManager`] from an application module, and [`run`] runs it until SIGTERM/SIGINT.
//! Domain libraries do not depend on this crate: they depend on [`contracts`] and the
//! adapter crates they pick.
//!
//! ```no_run
//! use plba::contracts::{ApplicationModule, Registry, RegistryError};
//!
//! struct Shop;
//! impl ApplicationModule for Shop {
//!     fn name(&self) -> &str { "shop" }
//!     fn register(&self, _registry: &mut dyn Registry) -> Result<(), RegistryError> { Ok(()) }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), plba::PlbaError> {
//!     plba::init_logging("info")?;
//!     plba::run(&Shop, plba::RuntimeOptions::default()).await?;
//!     Ok(())
//! }
//! ```

pub use plba_contracts as contracts;
pub use plba_core::{
    CopyStatus, CoreError, PoolStatus, QueueStatus, RuntimeManager, RuntimeOptions, RuntimeState,
    RuntimeStatus, ServiceContainer, StopReport,
};
pub use plba_health as health;
pub use plba_queue_memory as queue_memory;
pub use plba_workers as workers;

use std::sync::Arc;

use plba_contracts::{ApplicationModule, ConfigProvider, EmptyConfig};

/// Why the runtime could not be created or run.
#[derive(Debug, thiserror::Error)]
pub enum PlbaError {
    /// The runtime refused an operation (a module failed to register, a signal handler
    /// could not be installed, …).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The log filter is invalid or logging was already set up.
    #[error("cannot set up logging: {0}")]
    Logging(String),
}

/// A runtime with `module` registered, reading module sections from no configuration.
pub fn create_runtime(
    module: &dyn ApplicationModule,
    options: RuntimeOptions,
) -> Result<RuntimeManager, PlbaError> {
    create_runtime_with_config(module, options, Arc::new(EmptyConfig))
}

/// A runtime with `module` registered, reading module sections from `config`.
pub fn create_runtime_with_config(
    module: &dyn ApplicationModule,
    options: RuntimeOptions,
    config: Arc<dyn ConfigProvider>,
) -> Result<RuntimeManager, PlbaError> {
    let runtime = RuntimeManager::with_config(options, config);
    runtime.register(module)?;
    Ok(runtime)
}

/// Creates the runtime, starts it and runs until SIGTERM/SIGINT (a second signal forces the
/// stop) or a shutdown request.
pub async fn run(
    module: &dyn ApplicationModule,
    options: RuntimeOptions,
) -> Result<StopReport, PlbaError> {
    let runtime = create_runtime(module, options)?;
    Ok(runtime.run_until_shutdown().await?)
}

/// Sets up human-readable logs on stderr with a `tracing` filter such as `info` or
/// `info,plba_core=debug`; `RUST_LOG` overrides it when set.
pub fn init_logging(default_filter: &str) -> Result<(), PlbaError> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.trim().is_empty() => EnvFilter::try_new(from_env),
        _ => EnvFilter::try_new(default_filter),
    }
    .map_err(|e| PlbaError::Logging(e.to_string()))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| PlbaError::Logging(e.to_string()))
}

/// The README's Rust examples, compiled as doctests so they stay true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

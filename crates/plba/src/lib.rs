//! PLBA: a platform runtime for business applications.
//!
//! This facade is what a launcher depends on: [`create_runtime`] loads the configuration,
//! sets up logging and tracing and assembles an [`Application`] (the lifecycle core,
//! [`RuntimeManager`], with the configuration and telemetry that drive it) from a module;
//! [`run`] runs it until SIGTERM/SIGINT.
//! Domain libraries do not depend on this crate: they depend on [`contracts`] and the
//! adapter crates they pick.
//!
//! This is where configuration and telemetry meet the core, which knows neither:
//! [`create_runtime`] loads the configuration with the module's section declared, runs the
//! module's own checks, installs logging and tracing, builds the [`Application`] and
//! registers the module — in that order; [`check_config`] runs the same checks and builds
//! nothing (a launcher's `check-config`); [`run_runtime`] follows SIGHUP, file changes and
//! the log filter, serves the control plane and runs until a stop signal. The runtime's
//! config sink hands the subscribers modules register to the configuration manager.
//! The crate re-exports the contracts, configuration, control plane, core types, health,
//! memory queue, workers, telemetry and helpers; its `control-tls` feature turns on the
//! control plane's HTTPS.
//!
//! ```no_run
//! use plba::contracts::{ApplicationModule, Registry, RegistryError};
//!
//! struct Shop;
//! #[plba::contracts::async_trait]
//! impl ApplicationModule for Shop {
//!     fn name(&self) -> &str { "shop" }
//!     async fn register(&self, _registry: &mut dyn Registry) -> Result<(), RegistryError> { Ok(()) }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), plba::PlbaError> {
//!     let config = plba::config::ConfigSource::new().with_file("shop.yaml");
//!     plba::run(&Shop, plba::PlbaOptions::from_source(config)).await?;
//!     Ok(())
//! }
//! ```

pub use plba_config as config;
pub use plba_contracts as contracts;
pub use plba_control as control;
pub use plba_core::{
    CopyStatus, CoreError, PoolStatus, QueueStatus, RuntimeManager, RuntimeOptions, RuntimeState,
    RuntimeStatus, StopReport,
};
pub use plba_health as health;
pub use plba_queue_memory as queue_memory;
pub use plba_tracing as telemetry;
pub use plba_util as util;
pub use plba_workers as workers;

mod application;
mod config_store;
pub mod launcher;
pub mod prelude;

pub use application::{Application, runtime_options};

/// The allocator an application's binary installs, one line in its `main.rs`:
/// [`platform_allocator!`].
///
/// Why not the system's: a task is made on one thread and dropped on another, and glibc's
/// allocator takes a lock of the making thread's arena for every such free once its small
/// per-thread cache is full. On a busy queue those locks, not the queue, set the pace
/// (`docs/benchmarks.md`: a third of the in-process path's time); mimalloc frees to the
/// owning thread without a lock.
pub type Allocator = mimalloc::MiMalloc;

/// The value of [`tyalias@Allocator`], for the `static` a binary declares.
#[allow(non_upper_case_globals)] // reads as the type in `static A: Allocator = Allocator;`
pub const Allocator: Allocator = mimalloc::MiMalloc;

/// Installs [`tyalias@Allocator`] as the binary's global allocator: `plba::platform_allocator!();`
/// at the top level of its `main.rs`.
#[macro_export]
macro_rules! platform_allocator {
    () => {
        #[global_allocator]
        static PLBA_ALLOCATOR: $crate::Allocator = $crate::Allocator;
    };
}

use std::sync::Arc;

use plba_config::{ConfigLoadError, ConfigSource, ConfigurationManager};
use plba_contracts::{ApplicationModule, CancellationToken};
use plba_tracing::{Telemetry, TracingError};

/// Why the runtime could not be created or run.
#[derive(Debug, thiserror::Error)]
pub enum PlbaError {
    /// The configuration is missing, unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigLoadError),
    /// Logging or tracing could not be set up.
    #[error(transparent)]
    Telemetry(#[from] TracingError),
    /// The control plane could not be started.
    #[error(transparent)]
    Control(#[from] plba_control::ControlError),
    /// The runtime refused an operation (a module failed to register, a signal handler
    /// could not be installed, …).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The users' database could not be opened.
    #[error(transparent)]
    Users(#[from] plba_auth::AuthError),
    /// The configuration database could not be read, or a change to it was refused.
    #[error(transparent)]
    ConfigStore(#[from] plba_config_store::ConfigStoreError),
    /// A signal handler could not be installed.
    #[error("cannot listen for {signal}")]
    Signal {
        /// Which signal.
        signal: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// How [`create_runtime`] assembles an application.
#[derive(Clone, Debug)]
pub struct PlbaOptions {
    /// Where the configuration comes from (file, env prefix, `--set` overrides, defaults).
    pub config: ConfigSource,
    /// Install logging and tracing for the whole process from the `log` and
    /// `platform.tracing` sections. Turn off when the embedding program owns `tracing`.
    pub install_telemetry: bool,
}

impl Default for PlbaOptions {
    fn default() -> Self {
        Self {
            config: ConfigSource::new(),
            install_telemetry: true,
        }
    }
}

impl PlbaOptions {
    /// Options reading the configuration from `source`, installing telemetry.
    pub fn from_source(config: ConfigSource) -> Self {
        Self {
            config,
            install_telemetry: true,
        }
    }
}

/// Loads and validates the configuration, sets up logging and tracing, builds the runtime
/// and runs `module`'s start-up phase (its async `register`, which connects what it needs):
/// in that order, so a bad configuration stops the process before anything runs, every
/// worker starts with logging and tracing in place, and a resource that cannot be reached is
/// reported before the runtime says `running`.
pub async fn create_runtime(
    module: &dyn ApplicationModule,
    options: PlbaOptions,
) -> Result<Application, PlbaError> {
    let source = options.config.with_sections([module.name()]);
    let mut startup = config_store::read_at_start(&source, module.name()).await?;
    let layer = startup.as_ref().map(|s| s.layer.clone());
    let configuration = match (load_checked(module, &source, layer), startup.take()) {
        (Ok(configuration), started) => {
            startup = started;
            configuration
        }
        // The database's values are refused: its cache stands in, when allowed.
        (Err(refused), Some(started)) => {
            let Some(started) = started
                .fall_back_to_cache(plba_util::error_chain(&refused))
                .await
            else {
                return Err(refused);
            };
            // A cache the configuration refuses too: the database's refusal is what to fix.
            let Ok(configuration) = load_checked(module, &source, Some(started.layer.clone()))
            else {
                return Err(refused);
            };
            startup = Some(started);
            configuration
        }
        (Err(error), None) => return Err(error),
    };
    let configuration = Arc::new(configuration);
    let telemetry = if options.install_telemetry {
        let current = configuration.current();
        Some(Arc::new(Telemetry::install(
            current.platform(),
            current.log(),
        )?))
    } else {
        None
    };
    for warning in configuration.current().warnings() {
        tracing::warn!("{warning}");
    }
    let mut application = Application::new(configuration, telemetry);
    if let Some(startup) = startup {
        let follower = config_store::follower(
            startup,
            Arc::clone(application.configuration()),
            application.runtime(),
        );
        application = application.with_config_store(follower);
    }
    application.runtime().register(module).await?;
    Ok(application)
}

/// The configuration from `source` (with the store's `layer` above the file), checked as
/// [`check_config`] checks it.
fn load_checked(
    module: &dyn ApplicationModule,
    source: &ConfigSource,
    layer: Option<config::StoredLayer>,
) -> Result<ConfigurationManager, PlbaError> {
    let source = match layer {
        Some(layer) => source.clone().with_stored_layer(layer),
        None => source.clone(),
    };
    let configuration = ConfigurationManager::load(source)?;
    module
        .check_config(configuration.current().as_ref())
        .map_err(ConfigLoadError::from)?;
    check_users(configuration.current().as_ref())?;
    Ok(configuration)
}

/// Loads the configuration and checks it exactly as [`create_runtime`] does (unknown
/// sections, platform sections, the module's own checks) without building or starting
/// anything: what a launcher's `check-config` runs.
pub fn check_config(
    module: &dyn ApplicationModule,
    source: ConfigSource,
) -> Result<config::ConfigSnapshot, PlbaError> {
    let snapshot = source.with_sections([module.name()]).load()?;
    module
        .check_config(&snapshot)
        .map_err(ConfigLoadError::from)?;
    check_users(&snapshot)?;
    Ok(snapshot)
}

/// Refuses a users' database this build cannot open (PostgreSQL without its feature) and a
/// single-sign-on CA file that holds no certificate, in `check-config` as at start.
fn check_users(snapshot: &config::ConfigSnapshot) -> Result<(), PlbaError> {
    let control = &snapshot.platform().control;
    if let Some(users) = &control.users {
        plba_auth::UserStore::check_config(users)?;
    }
    // Its CA file must hold certificates, checked where the provider is used.
    if let Some(oidc) = &control.oidc {
        plba_auth::oidc::SingleSignOn::new(oidc)?;
    }
    Ok(())
}

/// [`create_runtime`], start the control plane (unless `platform.control.enabled` is off),
/// run until SIGTERM/SIGINT (a second signal forces the stop) or the shutdown action, then
/// stop the control plane and flush buffered spans.
pub async fn run(
    module: &dyn ApplicationModule,
    options: PlbaOptions,
) -> Result<StopReport, PlbaError> {
    let application = create_runtime(module, options).await?;
    run_runtime(&application).await
}

/// The part of [`run`] after [`create_runtime`], for launchers that inspect the runtime first:
/// follows the configuration (SIGHUP, file watch, log filter), serves the control plane,
/// runs until a stop signal or the shutdown action.
pub async fn run_runtime(application: &Application) -> Result<StopReport, PlbaError> {
    let following = CancellationToken::new();
    let _stop_following = following.clone().drop_guard();
    application.follow_configuration(&following)?;
    let control = start_control_plane(application).await?;
    let report = application.runtime().run_until_shutdown().await;
    if let Some(server) = control {
        server.stop().await;
    }
    flush_telemetry(application).await;
    Ok(report?)
}

/// Serves the control plane as `platform.control` says; `None` when it is disabled.
pub async fn start_control_plane(
    application: &Application,
) -> Result<Option<plba_control::ControlServer>, PlbaError> {
    let control = application
        .configuration()
        .current()
        .platform()
        .control
        .clone();
    if !control.enabled {
        return Ok(None);
    }
    let mut service =
        plba_control::ControlPlaneService::new(application.runtime().clone(), control)
            .with_configuration(Arc::clone(application.configuration()));
    if let Some(telemetry) = application.telemetry() {
        service = service.with_traces(telemetry.recent_traces());
    }
    if let Some(follower) = application.config_store() {
        service =
            service.with_stored_config(Arc::new(config_store::StoreAccess(Arc::clone(follower))));
    }
    if let Some(users) = &service.config().users {
        let store = plba_auth::UserStore::open(users).await?;
        service = service.with_users(store);
    }
    if let Some(oidc) = &service.config().oidc {
        let sso = plba_auth::oidc::SingleSignOn::new(oidc)?;
        service = service.with_single_sign_on(sso);
    }
    Ok(Some(
        plba_control::ControlServer::start(Arc::new(service)).await?,
    ))
}

/// Exports buffered spans and stops the exporter, off the async threads.
pub async fn flush_telemetry(application: &Application) {
    if let Some(telemetry) = application.telemetry().cloned() {
        let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    }
}

/// The README's Rust examples, compiled as doctests so they stay true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

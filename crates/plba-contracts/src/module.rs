//! Modules and what they register with the runtime.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::backoff::{Backoff, Jitter};
use crate::config::{ConfigError, ConfigProvider, ConfigProviderExt};
use crate::health::{HealthContributor, HealthOptions};
use crate::metrics::MetricsSource;
use crate::queue::TaskQueue;
use crate::trace::TaskTracer;
use crate::worker::Worker;

/// Builds the worker for copy number `copy` (0-based) of a pool; called on every (re)start.
pub type WorkerFactory = Arc<dyn Fn(usize) -> Arc<dyn Worker> + Send + Sync>;

/// How the supervisor restarts a worker that failed.
///
/// The delay before a restart follows `backoff` (equal jitter by default: pools that failed
/// together do not restart together, and none restarts at once), counting consecutive failures; a run that
/// lasted longer than `backoff.max` resets the count. More than `max_restarts` restarts within
/// `window` make the worker unhealthy until the window clears; the supervisor keeps restarting
/// it at the backoff's maximum meanwhile, so a dependency that comes back is picked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Delays between restarts.
    pub backoff: Backoff,
    /// Restarts tolerated within `window` before the worker is reported unhealthy.
    pub max_restarts: u32,
    /// The sliding window for `max_restarts`.
    pub window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(30))
                .with_jitter(Jitter::Equal),
            max_restarts: 5,
            window: Duration::from_secs(60),
        }
    }
}

/// A worker pool to run: a name, how many copies, how to build each, how to restart.
///
/// ```
/// use std::sync::Arc;
/// use plba_contracts::{async_trait, Worker, WorkerContext, WorkerError, WorkerSpec, WorkerStatus};
///
/// struct Idle;
/// #[async_trait]
/// impl Worker for Idle {
///     async fn run(&self, ctx: WorkerContext) -> Result<(), WorkerError> {
///         ctx.stop_token().cancelled().await;
///         Ok(())
///     }
///     fn status(&self) -> WorkerStatus { WorkerStatus::Idle }
/// }
///
/// let spec = WorkerSpec::pool("consumers", 3, |_copy| Idle);
/// assert_eq!(spec.copies(), 3);
/// ```
#[derive(Clone)]
pub struct WorkerSpec {
    name: String,
    copies: usize,
    factory: WorkerFactory,
    restart: RestartPolicy,
    critical: bool,
}

impl WorkerSpec {
    /// One copy of an existing worker (restarts reuse the same object).
    pub fn single(name: impl Into<String>, worker: Arc<dyn Worker>) -> Self {
        Self {
            name: name.into(),
            copies: 1,
            factory: Arc::new(move |_| Arc::clone(&worker)),
            restart: RestartPolicy::default(),
            critical: true,
        }
    }

    /// `copies` copies, each built by `factory(copy)` on every (re)start.
    pub fn pool<W, F>(name: impl Into<String>, copies: usize, factory: F) -> Self
    where
        W: Worker,
        F: Fn(usize) -> W + Send + Sync + 'static,
    {
        Self {
            name: name.into(),
            copies,
            factory: Arc::new(move |copy| Arc::new(factory(copy)) as Arc<dyn Worker>),
            restart: RestartPolicy::default(),
            critical: true,
        }
    }

    /// Same spec with another restart policy.
    #[must_use]
    pub fn with_restart_policy(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// Same spec, marked critical or not for health aggregation (default: critical).
    #[must_use]
    pub fn with_critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many copies run.
    pub fn copies(&self) -> usize {
        self.copies
    }

    /// The restart policy.
    pub fn restart_policy(&self) -> RestartPolicy {
        self.restart
    }

    /// Whether an unhealthy pool makes the application unhealthy.
    pub fn is_critical(&self) -> bool {
        self.critical
    }

    /// Builds the worker for copy `copy`.
    pub fn build(&self, copy: usize) -> Arc<dyn Worker> {
        (self.factory)(copy)
    }
}

impl fmt::Debug for WorkerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerSpec")
            .field("name", &self.name)
            .field("copies", &self.copies)
            .field("restart", &self.restart)
            .field("critical", &self.critical)
            .finish_non_exhaustive()
    }
}

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Another item of the same kind already uses this name.
    #[error("{kind} {name:?} is already registered")]
    Duplicate {
        /// "worker", "queue", "health contributor" or "service".
        kind: &'static str,
        /// The clashing name.
        name: String,
    },
    /// The registration itself is invalid (e.g. a pool of zero copies).
    #[error("invalid {kind} {name:?}: {reason}")]
    Invalid {
        /// What was being registered.
        kind: &'static str,
        /// Its name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The module's configuration section is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The module failed to build something it needs (e.g. opening its store).
    #[error("module {module:?} cannot build {what}")]
    Module {
        /// The module.
        module: String,
        /// What it was building.
        what: String,
        /// Why that failed, kept for inspection (the I/O, store or queue error).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl RegistryError {
    /// Module `module` could not build `what` because of `source`.
    ///
    /// ```
    /// use std::error::Error as _;
    /// use plba_contracts::RegistryError;
    ///
    /// let io = std::io::Error::other("permission denied");
    /// let error = RegistryError::module("shop", "the order store", io);
    /// assert_eq!(error.to_string(), "module \"shop\" cannot build the order store");
    /// assert_eq!(error.source().unwrap().to_string(), "permission denied");
    /// ```
    pub fn module(
        module: impl Into<String>,
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Module {
            module: module.into(),
            what: what.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// What a module sees of the runtime while it registers.
///
/// Object-safe; typed helpers live in [`RegistryExt`].
pub trait Registry: Send {
    /// The registering module's name (also the key of its configuration section).
    fn module_name(&self) -> &str;

    /// The effective configuration.
    fn config(&self) -> &dyn ConfigProvider;

    /// The tracer producers and consumers use to propagate trace context through tasks.
    fn tracer(&self) -> Arc<dyn TaskTracer>;

    /// Declares a worker pool for the supervisor to run.
    fn add_worker(&mut self, spec: WorkerSpec) -> Result<(), RegistryError>;

    /// Declares a [`Schedule`](crate::Schedule): the runtime checks its cadence, runs it, and
    /// shows its next and last run in its status.
    fn add_schedule(&mut self, schedule: crate::Schedule) -> Result<(), RegistryError>;

    /// Declares a queue, so its stats appear in the runtime's status. Declaring the same
    /// queue again (the same `Arc`, as a pool's `register` does) is no error; another queue
    /// object with the same name is refused (share one `Arc` rather than opening a second
    /// handle).
    fn add_queue(&mut self, queue: Arc<dyn TaskQueue>) -> Result<(), RegistryError>;

    /// Declares a health contributor.
    fn add_health_contributor(
        &mut self,
        name: &str,
        contributor: Arc<dyn HealthContributor>,
        options: HealthOptions,
    ) -> Result<(), RegistryError>;

    /// Declares a source of metrics for `/metrics`.
    fn add_metrics_source(&mut self, source: Arc<dyn MetricsSource>) -> Result<(), RegistryError>;

    /// Declares a page of the operator console (see [`AppView`](crate::AppView)).
    fn add_view(&mut self, view: crate::ViewRef) -> Result<(), RegistryError>;

    /// Declares a component that checks and applies configuration reloads (see
    /// [`ConfigSubscriber`](crate::ConfigSubscriber)).
    fn add_config_subscriber(
        &mut self,
        subscriber: Arc<dyn crate::ConfigSubscriber>,
    ) -> Result<(), RegistryError>;
}

/// Typed helpers over [`Registry`].
pub trait RegistryExt: Registry {
    /// The module's own configuration section as `T`; `T::default()` when absent.
    fn own_section<T: DeserializeOwned + Default>(&self) -> Result<T, RegistryError> {
        let name = self.module_name().to_owned();
        Ok(self.config().section::<T>(&name)?.unwrap_or_default())
    }

    /// A [`Publisher`](crate::Publisher) to `queue` that traces with the runtime's tracer.
    fn publisher(&self, queue: Arc<dyn TaskQueue>) -> crate::Publisher {
        crate::Publisher::new(queue, self.tracer())
    }
}

impl<R: Registry + ?Sized> RegistryExt for R {}

/// A piece of application: it declares workers, queues, handlers, health contributors and
/// views, and runs nothing itself. Modules share a resource (a store, a queue) by being
/// handed it when they are built, not through the registry.
///
/// # Protocol
///
/// The runtime calls [`register`](Self::register) once, before anything starts and before it
/// reports `running`. `register` is the module's start-up phase: it is async, so a module
/// connects what it needs (a queue server, say) right there, in async code, and declares the
/// connected resources — no lazy wrappers. An error aborts start-up with that error: a module
/// that cannot be assembled (bad config, a queue server that refuses it) never half-runs.
#[async_trait::async_trait]
pub trait ApplicationModule: Send + Sync + 'static {
    /// The module's name; also the key of its configuration section.
    fn name(&self) -> &str;

    /// Checks the module's configuration beyond what its types say (ranges, paths,
    /// combinations), without side effects. The runtime calls it before
    /// [`register`](Self::register), and a launcher's `check-config` calls it too, so both
    /// refuse the same mistakes. The default accepts everything.
    fn check_config(&self, config: &dyn ConfigProvider) -> Result<(), ConfigError> {
        let _ = config;
        Ok(())
    }

    /// Connects what the module needs and declares what it contributes.
    async fn register(&self, registry: &mut dyn Registry) -> Result<(), RegistryError>;
}

//! RuntimeManager: the lifecycle of an application built from modules.

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use plba_contracts::{
    ApplicationModule, CancellationToken, ConfigProvider, ConfigSubscriber, EmptyConfig,
    HealthOptions, MetricsSource, NoopTaskTracer, TaskQueue, TaskTracer, ViewRef,
};
use plba_health::{HealthRegistry, HealthSnapshot, ProbeResult};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::CoreError;
use crate::registry::{ModuleRegistry, Taken, WORKER_HEALTH_PREFIX};
use crate::scheduler::ScheduleState;
use crate::signals::StopSignals;
use crate::state::RuntimeState;
use crate::status::{QueueStatus, RuntimeStatus};
use crate::supervisor::WorkerSupervisor;
use crate::sync::{lock, read, write};

/// Runtime settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// How long a graceful stop may take before it is forced.
    pub stop_timeout: Duration,
    /// After forcing, how long workers get to give back their work before being aborted.
    pub force_grace: Duration,
    /// Timeout of the per-pool worker health checks.
    pub worker_health_timeout: Duration,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            stop_timeout: Duration::from_secs(30),
            force_grace: Duration::from_secs(2),
            worker_health_timeout: Duration::from_secs(1),
        }
    }
}

/// What a stop did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StopReport {
    /// Whether anything was running.
    pub was_running: bool,
    /// Whether every worker finished within the timeout.
    pub graceful: bool,
    /// How many worker copies had to be forced.
    pub forced_copies: usize,
    /// How long the stop took.
    pub took: Duration,
}

/// Owns an application's modules, workers, queues and health, and their lifecycle.
///
/// Cheap to clone: clones share one runtime, so a control plane or a signal task can hold one.
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use plba_contracts::{ApplicationModule, Registry, RegistryError};
/// use plba_core::{RuntimeManager, RuntimeOptions, RuntimeState};
///
/// struct Empty;
/// #[plba_contracts::async_trait]
/// impl ApplicationModule for Empty {
///     fn name(&self) -> &str { "empty" }
///     async fn register(&self, _registry: &mut dyn Registry) -> Result<(), RegistryError> { Ok(()) }
/// }
///
/// let runtime = RuntimeManager::new(RuntimeOptions::default());
/// runtime.register(&Empty).await.unwrap();
/// runtime.start().await.unwrap();
/// assert_eq!(runtime.state(), RuntimeState::Running);
/// let report = runtime.stop().await;
/// assert!(report.graceful);
/// runtime.start().await.unwrap(); // start again after a stop
/// # });
/// ```
#[derive(Clone)]
pub struct RuntimeManager {
    inner: Arc<Inner>,
}

struct Inner {
    options: RuntimeOptions,
    config: RwLock<Arc<dyn ConfigProvider>>,
    tracer: RwLock<Arc<dyn TaskTracer>>,
    state: watch::Sender<RuntimeState>,
    lifecycle: tokio::sync::Mutex<()>,
    supervisor: WorkerSupervisor,
    queues: RwLock<Vec<Arc<dyn TaskQueue>>>,
    metrics: RwLock<Vec<Arc<dyn MetricsSource>>>,
    views: RwLock<Vec<ViewRef>>,
    schedules: RwLock<Vec<Arc<ScheduleState>>>,
    health: HealthRegistry,
    modules: Mutex<Vec<String>>,
    started_at: Mutex<Option<Instant>>,
    shutdown: CancellationToken,
    /// Where config subscribers go (the configuration manager, wired by the facade); until
    /// one is set they wait here.
    config_sink: Mutex<ConfigSink>,
}

/// Receives the `ConfigSubscriber`s modules register, with the module's name.
pub type SubscriberSink = Box<dyn Fn(&str, Arc<dyn ConfigSubscriber>) + Send + Sync>;

enum ConfigSink {
    Waiting(Vec<(String, Arc<dyn ConfigSubscriber>)>),
    Set(SubscriberSink),
}

impl fmt::Debug for RuntimeManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeManager")
            .field("state", &self.state())
            .field("modules", &self.modules())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl RuntimeManager {
    /// A runtime with no configuration sections (see [`with_config`](Self::with_config)).
    pub fn new(options: RuntimeOptions) -> Self {
        Self::with_config(options, Arc::new(EmptyConfig))
    }

    /// A runtime whose modules read their sections from `config`.
    pub fn with_config(options: RuntimeOptions, config: Arc<dyn ConfigProvider>) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                config: RwLock::new(config),
                tracer: RwLock::new(NoopTaskTracer::shared()),
                state: watch::Sender::new(RuntimeState::Created),
                lifecycle: tokio::sync::Mutex::new(()),
                supervisor: WorkerSupervisor::new(),
                queues: RwLock::new(Vec::new()),
                metrics: RwLock::new(Vec::new()),
                views: RwLock::new(Vec::new()),
                schedules: RwLock::new(Vec::new()),
                health: HealthRegistry::new(),
                modules: Mutex::new(Vec::new()),
                started_at: Mutex::new(None),
                shutdown: CancellationToken::new(),
                config_sink: Mutex::new(ConfigSink::Waiting(Vec::new())),
            }),
        }
    }

    /// Hands every `ConfigSubscriber` a module registered (earlier or from now on) to `sink`
    /// — the launcher's configuration manager, which asks them to check and apply reloads.
    /// The runtime itself knows nothing of where configuration comes from.
    pub fn set_config_sink(&self, sink: SubscriberSink) {
        let mut current = lock(&self.inner.config_sink);
        if let ConfigSink::Waiting(waiting) = &mut *current {
            for (module, subscriber) in waiting.drain(..) {
                sink(&module, subscriber);
            }
        }
        *current = ConfigSink::Set(sink);
    }

    /// Sets the tracer handed to modules registered from now on (the facade installs the
    /// OpenTelemetry-backed one; the default propagates nothing).
    pub fn set_tracer(&self, tracer: Arc<dyn TaskTracer>) {
        *write(&self.inner.tracer) = tracer;
    }

    /// The tracer modules receive.
    pub fn tracer(&self) -> Arc<dyn TaskTracer> {
        Arc::clone(&read(&self.inner.tracer))
    }

    /// The options the runtime was built with.
    pub fn options(&self) -> &RuntimeOptions {
        &self.inner.options
    }

    /// Runs `module`'s start-up phase: it connects what it needs and declares its workers,
    /// queues and health contributors. All or nothing: on error nothing of the
    /// module is kept. Allowed before the first start and while stopped; the new workers run
    /// from the next start.
    pub async fn register(&self, module: &dyn ApplicationModule) -> Result<(), CoreError> {
        let state = self.state();
        if !matches!(state, RuntimeState::Created | RuntimeState::Stopped) {
            return Err(CoreError::InvalidState {
                action: "register a module",
                state,
            });
        }
        let inner = &*self.inner;
        let config = Arc::clone(&*read(&inner.config));
        let mut registry = ModuleRegistry {
            module: module.name(),
            config: config.as_ref(),
            tracer: self.tracer(),
            taken: Taken {
                views: read(&inner.views)
                    .iter()
                    .map(|v| v.name().to_owned())
                    .collect(),
                workers: inner.supervisor.pool_names(),
                queues: read(&inner.queues).clone(),
                health: inner.health.names(),
            },
            pending: Default::default(),
        };
        module
            .register(&mut registry)
            .await
            .map_err(|source| CoreError::Register {
                module: module.name().to_owned(),
                source,
            })?;
        let pending = registry.pending;
        // Names were checked against everything taken, so the commits below cannot clash.
        for (name, contributor, options) in pending.health {
            let _ = inner.health.register(&name, contributor, options);
        }
        for spec in pending.workers {
            let options = HealthOptions {
                critical: spec.is_critical(),
                timeout: inner.options.worker_health_timeout,
            };
            let name = format!("{WORKER_HEALTH_PREFIX}{}", spec.name());
            let contributor = inner.supervisor.add_pool(spec);
            let _ = inner.health.register(&name, contributor, options);
        }
        write(&inner.queues).extend(pending.queues);
        write(&inner.metrics).extend(pending.metrics);
        write(&inner.views).extend(pending.views);
        write(&inner.schedules).extend(pending.schedules);
        match &mut *lock(&inner.config_sink) {
            ConfigSink::Set(sink) => {
                for subscriber in pending.config_subscribers {
                    sink(module.name(), subscriber);
                }
            }
            ConfigSink::Waiting(waiting) => waiting.extend(
                pending
                    .config_subscribers
                    .into_iter()
                    .map(|s| (module.name().to_owned(), s)),
            ),
        }
        lock(&inner.modules).push(module.name().to_owned());
        tracing::info!(module = module.name(), "module registered");
        Ok(())
    }

    /// Spawns every worker. Allowed when created or stopped.
    pub async fn start(&self) -> Result<(), CoreError> {
        let _lifecycle = self.inner.lifecycle.lock().await;
        let state = self.state();
        if !matches!(state, RuntimeState::Created | RuntimeState::Stopped) {
            return Err(CoreError::InvalidState {
                action: "start",
                state,
            });
        }
        self.set_state(RuntimeState::Starting);
        self.inner.supervisor.start();
        *lock(&self.inner.started_at) = Some(Instant::now());
        self.set_state(RuntimeState::Running);
        Ok(())
    }

    /// Graceful stop with the configured timeout, then force (see
    /// [`stop_with_timeout`](Self::stop_with_timeout)).
    pub async fn stop(&self) -> StopReport {
        self.stop_with_timeout(self.inner.options.stop_timeout)
            .await
    }

    /// Stops every worker: no new work is taken and work in hand finishes; after `timeout`
    /// (or on [`force_stop`](Self::force_stop)) workers give their work back and are aborted
    /// if they do not return within the force grace. Stopping a runtime that is not running
    /// does nothing.
    pub async fn stop_with_timeout(&self, timeout: Duration) -> StopReport {
        let started = Instant::now();
        let _lifecycle = self.inner.lifecycle.lock().await;
        if self.state() != RuntimeState::Running {
            return StopReport {
                was_running: false,
                graceful: true,
                forced_copies: 0,
                took: started.elapsed(),
            };
        }
        // Copies stop taking work before anyone can observe the Stopping state.
        self.inner.supervisor.request_stop();
        self.set_state(RuntimeState::Stopping);
        tracing::info!(?timeout, "stopping workers gracefully");
        let forced = self
            .inner
            .supervisor
            .stop(timeout, self.inner.options.force_grace)
            .await;
        *lock(&self.inner.started_at) = None;
        self.set_state(RuntimeState::Stopped);
        let report = StopReport {
            was_running: true,
            graceful: forced == 0,
            forced_copies: forced,
            took: started.elapsed(),
        };
        tracing::info!(graceful = report.graceful, forced, took = ?report.took, "workers stopped");
        report
    }

    /// Turns a stop in progress into a forced one now; if running, stops with no grace period.
    pub async fn force_stop(&self) -> StopReport {
        self.inner.supervisor.force();
        self.stop_with_timeout(Duration::ZERO).await
    }

    /// Asks [`run_until_shutdown`](Self::run_until_shutdown) to stop gracefully and return
    /// (the control plane's shutdown action).
    pub fn request_shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// Starts, runs until SIGTERM/SIGINT or [`request_shutdown`](Self::request_shutdown),
    /// then stops gracefully; a second signal during the stop forces it.
    pub async fn run_until_shutdown(&self) -> Result<StopReport, CoreError> {
        let mut signals = StopSignals::install()?;
        self.start().await?;
        tokio::select! {
            signal = signals.recv() => {
                tracing::info!(signal, "stopping gracefully; send the signal again to force");
            }
            () = self.inner.shutdown.cancelled() => tracing::info!("shutdown requested"),
        }
        let stop = self.stop();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                report = &mut stop => return Ok(report),
                signal = signals.recv() => {
                    tracing::warn!(signal, "second stop signal: forcing the stop");
                    self.inner.supervisor.force();
                }
            }
        }
    }

    /// The lifecycle state now.
    pub fn state(&self) -> RuntimeState {
        *self.inner.state.borrow()
    }

    /// A receiver that sees every state change (to wait for `Running` or `Stopped`).
    pub fn subscribe_state(&self) -> watch::Receiver<RuntimeState> {
        self.inner.state.subscribe()
    }

    fn set_state(&self, state: RuntimeState) {
        self.inner.state.send_replace(state);
    }

    /// The health registry (to add platform contributors such as a config watcher).
    pub fn health_registry(&self) -> &HealthRegistry {
        &self.inner.health
    }

    /// The names of the registered modules.
    pub fn modules(&self) -> Vec<String> {
        lock(&self.inner.modules).clone()
    }

    /// Checks every health contributor (worker pools included) concurrently.
    pub async fn health(&self) -> HealthSnapshot {
        self.inner.health.check().await
    }

    /// Readiness: running and not unhealthy.
    pub async fn readiness(&self) -> ProbeResult {
        let snapshot = self.health().await;
        let state = self.state();
        let lifecycle = if state == RuntimeState::Running {
            Ok(())
        } else {
            Err(state.as_str())
        };
        plba_health::readiness(lifecycle, &snapshot)
    }

    /// Liveness: the async runtime still schedules tasks (a spawned no-op completes within
    /// a second). Contributor health is deliberately ignored.
    pub async fn liveness(&self) -> ProbeResult {
        let answered = tokio::time::timeout(Duration::from_secs(1), tokio::spawn(async {}))
            .await
            .is_ok_and(|joined| joined.is_ok());
        plba_health::liveness(answered)
    }

    /// The queue modules registered under `name`, for operators' actions on it (its dead
    /// letters).
    pub fn queue(&self, name: &str) -> Option<Arc<dyn TaskQueue>> {
        read(&self.inner.queues)
            .iter()
            .find(|queue| queue.name() == name)
            .cloned()
    }

    /// The console pages modules registered.
    pub fn views(&self) -> Vec<ViewRef> {
        read(&self.inner.views).clone()
    }

    /// The names of the queues modules registered.
    pub fn queue_names(&self) -> Vec<String> {
        read(&self.inner.queues)
            .iter()
            .map(|queue| queue.name().to_owned())
            .collect()
    }

    /// Adds a platform metrics source (the configuration store's follower, say) beside
    /// those modules register.
    pub fn add_metrics_source(&self, source: Arc<dyn MetricsSource>) {
        write(&self.inner.metrics).push(source);
    }

    /// The metrics sources modules registered (worker pools and the like).
    pub fn metrics_sources(&self) -> Vec<Arc<dyn MetricsSource>> {
        read(&self.inner.metrics).clone()
    }

    /// What everything is doing now: lifecycle, each worker copy, each queue's stats.
    pub async fn status(&self) -> RuntimeStatus {
        let queues: Vec<Arc<dyn TaskQueue>> = read(&self.inner.queues).clone();
        let mut queue_status = Vec::with_capacity(queues.len());
        for queue in &queues {
            let stats = tokio::time::timeout(Duration::from_secs(2), queue.stats()).await;
            let (stats, error) = match stats {
                Ok(Ok(stats)) => (Some(stats), None),
                Ok(Err(error)) => (None, Some(plba_util::error_chain(&error))),
                Err(_) => (None, Some("stats timed out".to_owned())),
            };
            queue_status.push(QueueStatus {
                name: queue.name().to_owned(),
                stats,
                error,
            });
        }
        RuntimeStatus {
            state: self.state(),
            uptime: lock(&self.inner.started_at).map(|t| t.elapsed()),
            workers: self.inner.supervisor.status(),
            queues: queue_status,
            schedules: read(&self.inner.schedules)
                .iter()
                .map(|s| s.snapshot())
                .collect(),
        }
    }
}

//! An application assembled from a configuration: the lifecycle core, the configuration
//! manager that feeds it and follows reloads, and the telemetry. The core knows nothing of
//! configuration files or exporters; this is where they meet it.

use std::sync::Arc;
use std::time::Duration;

use plba_config::{ConfigLoadError, ConfigSnapshot, ConfigurationManager, PlatformConfig};
use plba_contracts::CancellationToken;
use plba_core::{RuntimeManager, RuntimeOptions};
use plba_tracing::Telemetry;

use crate::PlbaError;

/// A runtime built by [`create_runtime`](crate::create_runtime), with what drives it.
#[derive(Clone)]
pub struct Application {
    runtime: RuntimeManager,
    configuration: Arc<ConfigurationManager>,
    telemetry: Option<Arc<Telemetry>>,
    config_store: Option<Arc<plba_config_store::StoreFollower>>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("runtime", &self.runtime)
            .field("generation", &self.configuration.current().generation())
            .field("telemetry", &self.telemetry.is_some())
            .finish()
    }
}

/// The runtime options the `platform` section asks for.
pub fn runtime_options(platform: &PlatformConfig) -> RuntimeOptions {
    RuntimeOptions {
        stop_timeout: Duration::from_millis(platform.stop_timeout_ms),
        force_grace: Duration::from_millis(platform.force_grace_ms),
        ..RuntimeOptions::default()
    }
}

impl Application {
    /// A runtime whose options come from the configuration's `platform` section, whose
    /// modules read the live configuration and whose config subscribers follow its reloads;
    /// with `telemetry`, modules get its tracer.
    pub fn new(
        configuration: Arc<ConfigurationManager>,
        telemetry: Option<Arc<Telemetry>>,
    ) -> Self {
        let runtime = RuntimeManager::with_config(
            runtime_options(configuration.current().platform()),
            configuration.provider(),
        );
        if let Some(telemetry) = &telemetry {
            runtime.set_tracer(telemetry.task_tracer());
        }
        let subscribers = Arc::clone(&configuration);
        runtime.set_config_sink(Box::new(move |module, subscriber| {
            subscribers.add_subscriber(module, subscriber);
        }));
        Self {
            runtime,
            configuration,
            telemetry,
            config_store: None,
        }
    }

    /// Follows a configuration database as well (`platform.config_store`).
    #[must_use]
    pub fn with_config_store(mut self, follower: Arc<plba_config_store::StoreFollower>) -> Self {
        self.config_store = Some(follower);
        self
    }

    /// The configuration database this application follows, if any.
    pub fn config_store(&self) -> Option<&Arc<plba_config_store::StoreFollower>> {
        self.config_store.as_ref()
    }

    /// The lifecycle core.
    pub fn runtime(&self) -> &RuntimeManager {
        &self.runtime
    }

    /// The configuration in force and its reloads.
    pub fn configuration(&self) -> &Arc<ConfigurationManager> {
        &self.configuration
    }

    /// Logging and tracing, when this application installed them.
    pub fn telemetry(&self) -> Option<&Arc<Telemetry>> {
        self.telemetry.as_ref()
    }

    /// Re-reads the configuration: installed only if valid as a whole, else the error.
    pub async fn reload(&self) -> Result<Arc<ConfigSnapshot>, ConfigLoadError> {
        self.configuration.reload_async().await
    }

    /// Starts what follows the configuration until `cancel` fires: SIGHUP reloads, the
    /// optional file watch, the configuration database, and the log filter following
    /// accepted reloads.
    pub(crate) fn follow_configuration(&self, cancel: &CancellationToken) -> Result<(), PlbaError> {
        #[cfg(unix)]
        self.configuration
            .spawn_sighup_reload(cancel.clone())
            .map_err(|source| PlbaError::Signal {
                signal: "SIGHUP",
                source,
            })?;
        let interval = self
            .configuration
            .current()
            .platform()
            .config_watch_interval_ms;
        if interval > 0 {
            self.configuration
                .spawn_file_watch(Duration::from_millis(interval), cancel.clone());
        }
        if let Some(telemetry) = &self.telemetry {
            telemetry.follow_config(self.configuration.subscribe(), cancel.clone());
        }
        if let Some(follower) = &self.config_store {
            follower.spawn(cancel.clone());
        }
        Ok(())
    }
}

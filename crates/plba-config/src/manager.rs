//! ConfigurationManager: the current configuration, safe reload, subscribers.

use plba_util::Unpoisoned;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plba_contracts::{CancellationToken, ConfigError, ConfigProvider, ConfigSubscriber};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::ConfigLoadError;
use crate::platform::platform_restart_required;
use crate::snapshot::ConfigSnapshot;
use crate::source::ConfigSource;
use crate::stored::StoredLayer;

/// Checks that a section decodes as `T`: what [`ConfigurationManager::require_section`]
/// subscribes.
struct SectionCheck<T> {
    key: String,
    decodes: std::marker::PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + 'static> ConfigSubscriber for SectionCheck<T> {
    fn check(&self, candidate: &dyn ConfigProvider) -> Result<Vec<String>, ConfigError> {
        use plba_contracts::ConfigProviderExt;
        candidate.section::<T>(&self.key).map(|_| Vec::new())
    }

    fn apply(&self, _config: &dyn ConfigProvider) {}
}

/// Holds the current configuration and replaces it, whole and validated, on reload.
///
/// ```
/// use plba_config::{ConfigSource, ConfigurationManager};
///
/// let manager = ConfigurationManager::load(ConfigSource::new().with_env_vars([("PLBA__APP__LIMIT", "5")])).unwrap();
/// #[derive(serde::Deserialize)]
/// struct App { limit: u32 }
/// manager.require_section::<App>("app").unwrap();
/// let mut changes = manager.subscribe();
/// manager.reload().unwrap();
/// assert!(changes.has_changed().unwrap());
/// assert_eq!(manager.current().generation(), 1);
/// ```
pub struct ConfigurationManager {
    source: ConfigSource,
    /// Settings an operator changed at run time (`key=value`, as `--set` takes them), on top
    /// of every source and kept across reloads until the process ends.
    runtime_overrides: Mutex<Vec<String>>,
    current: watch::Sender<Arc<ConfigSnapshot>>,
    subscribers: Mutex<Vec<(String, Arc<dyn ConfigSubscriber>)>>,
    reloading: Mutex<()>,
    /// The configuration store's layer in force, once one was applied: it replaces the
    /// source's, and a rejected layer never gets here, so later reloads keep the last good.
    stored: Mutex<Option<StoredLayer>>,
}

impl ConfigurationManager {
    /// Loads and validates the configuration from `source`.
    pub fn load(source: ConfigSource) -> Result<Self, ConfigLoadError> {
        let snapshot = ConfigSnapshot::build(source.merge()?, 0)?;
        Ok(Self {
            source,
            runtime_overrides: Mutex::new(Vec::new()),
            current: watch::Sender::new(Arc::new(snapshot)),
            subscribers: Mutex::new(Vec::new()),
            reloading: Mutex::new(()),
            stored: Mutex::new(None),
        })
    }

    /// The configuration in force.
    pub fn current(&self) -> Arc<ConfigSnapshot> {
        Arc::clone(&self.current.borrow())
    }

    /// A receiver that sees every accepted configuration.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ConfigSnapshot>> {
        self.current.subscribe()
    }

    /// Checks that section `key` decodes as `T` now, and makes every reload check it too,
    /// so a reload can never install a configuration a module cannot read.
    pub fn require_section<T: DeserializeOwned + 'static>(
        &self,
        key: &str,
    ) -> Result<(), ConfigLoadError> {
        self.current().section::<T>(key)?;
        let check = SectionCheck::<T> {
            key: key.to_owned(),
            decodes: std::marker::PhantomData,
        };
        self.add_subscriber(key, Arc::new(check));
        Ok(())
    }

    /// Makes every reload ask `subscriber` first (its error refuses the reload; what it
    /// lists needs a restart) and apply the accepted configuration after. `name` says whose
    /// subscriber it is in logs.
    pub fn add_subscriber(&self, name: &str, subscriber: Arc<dyn ConfigSubscriber>) {
        self.subscribers
            .lock_or_recover()
            .push((name.to_owned(), subscriber));
    }

    /// Re-reads every source. The new configuration replaces the current one only if it is
    /// valid as a whole (platform sections and every subscriber's check); otherwise the
    /// current one stays in force and the error is returned (and logged). Once installed,
    /// every subscriber applies it; the snapshot lists what needs a restart to take effect
    /// ([`ConfigSnapshot::restart_required`]).
    ///
    /// Reads files: from async code call [`reload_async`](Self::reload_async).
    pub fn reload(&self) -> Result<Arc<ConfigSnapshot>, ConfigLoadError> {
        self.reload_with(None)
    }

    /// Installs a configuration store's new values: the configuration is rebuilt with
    /// `layer` in place of the store's previous values and replaces the current one only if
    /// valid as a whole, as [`reload`](Self::reload) does. A refused layer is forgotten, so
    /// later reloads keep the last good one.
    pub fn apply_stored_layer(
        &self,
        layer: StoredLayer,
    ) -> Result<Arc<ConfigSnapshot>, ConfigLoadError> {
        self.reload_with(Some(layer))
    }

    /// Checks, without installing anything, that the configuration with `layer` as the
    /// store's values would be accepted; what it would need a restart for.
    pub fn check_stored_layer(&self, layer: StoredLayer) -> Result<Vec<String>, ConfigLoadError> {
        let _one_at_a_time = self.reloading.lock_or_recover();
        let subscribers = self.subscribers.lock_or_recover().clone();
        let generation = self.current.borrow().generation() + 1;
        self.candidate(Some(layer), generation, &subscribers)
            .map(|snapshot| snapshot.restart_required().to_vec())
    }

    /// The configuration store's values in force, once the store was applied through
    /// [`apply_stored_layer`](Self::apply_stored_layer).
    pub fn stored_layer(&self) -> Option<StoredLayer> {
        self.stored.lock_or_recover().clone()
    }

    /// Every source merged (with `layer`, or the store's layer in force), validated and
    /// checked by every subscriber, the restart list filled in.
    fn candidate(
        &self,
        layer: Option<StoredLayer>,
        generation: u64,
        subscribers: &[(String, Arc<dyn ConfigSubscriber>)],
    ) -> Result<ConfigSnapshot, ConfigLoadError> {
        let mut source = self
            .runtime_overrides
            .lock_or_recover()
            .iter()
            .fold(self.source.clone(), |source, assignment| {
                source.with_override(assignment.clone())
            });
        if let Some(layer) = layer.or_else(|| self.stored_layer()) {
            source = source.with_stored_layer(layer);
        }
        let mut snapshot = source
            .merge()
            .and_then(|merged| ConfigSnapshot::build(merged, generation))?;
        let running = self.current();
        let mut restart = platform_restart_required(
            (running.platform(), running.log()),
            (snapshot.platform(), snapshot.log()),
        );
        for (_, subscriber) in subscribers {
            restart.extend(subscriber.check(&snapshot)?);
        }
        restart.sort();
        restart.dedup();
        snapshot.set_restart_required(restart);
        Ok(snapshot)
    }

    fn reload_with(
        &self,
        layer: Option<StoredLayer>,
    ) -> Result<Arc<ConfigSnapshot>, ConfigLoadError> {
        let _one_at_a_time = self.reloading.lock_or_recover();
        let generation = self.current.borrow().generation() + 1;
        let subscribers = self.subscribers.lock_or_recover().clone();
        let candidate = self.candidate(layer.clone(), generation, &subscribers);
        if candidate.is_ok()
            && let Some(layer) = layer
        {
            *self.stored.lock_or_recover() = Some(layer);
        }
        match candidate {
            Ok(snapshot) => {
                let snapshot = Arc::new(snapshot);
                self.current.send_replace(Arc::clone(&snapshot));
                for (_, subscriber) in &subscribers {
                    subscriber.apply(snapshot.as_ref());
                }
                for warning in snapshot.warnings() {
                    tracing::warn!("{warning}");
                }
                if snapshot.restart_required().is_empty() {
                    tracing::info!(generation, "configuration reloaded");
                } else {
                    tracing::warn!(generation, restart_required = ?snapshot.restart_required(), "configuration reloaded; these changes take effect after a restart");
                }
                Ok(snapshot)
            }
            Err(error) => {
                tracing::warn!(error = %plba_util::error_chain(&error), "configuration reload rejected; the previous configuration stays in force");
                Err(error)
            }
        }
    }

    /// Changes one setting at run time (`log.level=debug`, as `--set` takes it) and reloads:
    /// the change stays over later reloads until the process ends. A change the new
    /// configuration refuses is taken back, and the error returned.
    pub async fn set_async(
        self: &Arc<Self>,
        assignment: String,
    ) -> Result<Arc<ConfigSnapshot>, ConfigLoadError> {
        let key = assignment
            .split_once('=')
            .map_or(assignment.as_str(), |(key, _)| key)
            .to_owned();
        let previous = {
            let mut overrides = self.runtime_overrides.lock_or_recover();
            let previous = overrides
                .iter()
                .position(|o| o.split_once('=').is_some_and(|(k, _)| k == key))
                .map(|at| overrides.remove(at));
            overrides.push(assignment.clone());
            previous
        };
        let reloaded = self.reload_async().await;
        if reloaded.is_err() {
            let mut overrides = self.runtime_overrides.lock_or_recover();
            overrides.retain(|o| *o != assignment);
            overrides.extend(previous);
        }
        reloaded
    }

    /// [`reload`](Self::reload) on a blocking thread.
    pub async fn reload_async(self: &Arc<Self>) -> Result<Arc<ConfigSnapshot>, ConfigLoadError> {
        let manager = Arc::clone(self);
        blocking(move || manager.reload()).await
    }

    /// [`apply_stored_layer`](Self::apply_stored_layer) on a blocking thread (it may read
    /// files).
    pub async fn apply_stored_layer_async(
        self: &Arc<Self>,
        layer: StoredLayer,
    ) -> Result<Arc<ConfigSnapshot>, ConfigLoadError> {
        let manager = Arc::clone(self);
        blocking(move || manager.apply_stored_layer(layer)).await
    }

    /// [`check_stored_layer`](Self::check_stored_layer) on a blocking thread.
    pub async fn check_stored_layer_async(
        self: &Arc<Self>,
        layer: StoredLayer,
    ) -> Result<Vec<String>, ConfigLoadError> {
        let manager = Arc::clone(self);
        blocking(move || manager.check_stored_layer(layer)).await
    }

    /// A `ConfigProvider` that always reads the configuration in force.
    pub fn provider(self: &Arc<Self>) -> Arc<dyn ConfigProvider> {
        Arc::new(LiveConfig(self.subscribe()))
    }

    /// Reloads on every SIGHUP until `cancel` fires.
    #[cfg(unix)]
    pub fn spawn_sighup_reload(
        self: &Arc<Self>,
        cancel: CancellationToken,
    ) -> std::io::Result<JoinHandle<()>> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup())?;
        let manager = Arc::clone(self);
        Ok(tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    received = hangups.recv() => {
                        if received.is_none() {
                            return;
                        }
                        tracing::info!("SIGHUP: reloading configuration");
                        // The outcome is logged by reload itself.
                        let _ = manager.reload_async().await;
                    }
                }
            }
        }))
    }

    /// Reads the configuration file every `interval` and reloads when its text changed,
    /// until `cancel` fires. Does nothing without a file.
    ///
    /// The text is compared, not the modification time: two writes within one tick of the
    /// file system's clock leave the same time, and the second would go unseen. (A
    /// configuration file is small and bounded by the source's limit.)
    pub fn spawn_file_watch(
        self: &Arc<Self>,
        interval: Duration,
        cancel: CancellationToken,
    ) -> Option<JoinHandle<()>> {
        let path = self.source.file()?.to_path_buf();
        let limit = self.source.file_limit();
        let manager = Arc::clone(self);
        // Compare with the file as it was when the configuration in force was read, so a
        // change made right after start-up is not missed; remember failed attempts so a
        // broken file is reported once, not on every tick.
        let mut last_seen = self
            .current()
            .file_text()
            .map(|text| Seen::Text(text.to_owned()));
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let probe = path.clone();
                let now = tokio::task::spawn_blocking(move || Seen::read(&probe, limit))
                    .await
                    .ok()
                    .flatten();
                if now.is_some() && now != last_seen {
                    last_seen = now;
                    tracing::info!(file = %path.display(), "configuration file changed: reloading");
                    let _ = manager.reload_async().await;
                }
            }
        }))
    }
}

/// What the file watch last saw of the configuration file.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// Its text.
    Text(String),
    /// A file that could not be read as configuration (too large, not UTF-8, not a regular
    /// file), as of its modification time: the reload reports why once, and again only when
    /// the file changes.
    Unreadable(Option<std::time::SystemTime>),
}

impl Seen {
    /// `None` while there is no file (an editor replacing it): nothing to compare yet.
    fn read(path: &std::path::Path, limit: u64) -> Option<Self> {
        match plba_util::read_text_limited(path, limit) {
            Ok(text) => Some(Self::Text(text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(_) => Some(Self::Unreadable(
                std::fs::metadata(path).and_then(|m| m.modified()).ok(),
            )),
        }
    }
}

/// Runs a reload's work on a blocking thread: it reads files.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ConfigLoadError> + Send + 'static,
) -> Result<T, ConfigLoadError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(ConfigLoadError::Invalid {
            key: String::new(),
            origin: None,
            reason: format!("reload task failed: {e}"),
        })
    })
}

// By hand: the sources may hold secrets (`--set` values, environment variables).
impl std::fmt::Debug for ConfigurationManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigurationManager")
            .field("current", &self.current())
            .finish_non_exhaustive()
    }
}

/// A provider view that follows reloads.
struct LiveConfig(watch::Receiver<Arc<ConfigSnapshot>>);

impl ConfigProvider for LiveConfig {
    fn section_value(&self, key: &str) -> Result<Option<Value>, ConfigError> {
        self.0.borrow().section_value(key)
    }

    fn describe_source(&self, key_path: &str) -> Option<String> {
        self.0.borrow().origin_of(key_path)
    }

    fn is_secret(&self, key_path: &str) -> bool {
        ConfigProvider::is_secret(self.0.borrow().as_ref(), key_path)
    }
}

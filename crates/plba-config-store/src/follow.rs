//! An instance following its configuration store: the layer read at start-up (or from the
//! cache), then every change applied as it comes — announced by PostgreSQL, or found by the
//! poll — each checked whole by the configuration manager before it is installed.
//!
//! The poll reads the whole layer, not only the revision: a notification that was missed, a
//! connection that dropped, or a row changed by hand without a new revision are all caught
//! by comparing what is there with what was last seen, never by trusting deltas.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plba_config::{ConfigStoreConfig, ConfigurationManager, StoredLayer};
use plba_contracts::CancellationToken;
use plba_util::Unpoisoned;
use serde::Serialize;

use crate::{ConfigStore, ConfigStoreError};

/// How long one read of the store may take before it counts as the database being away.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The PostgreSQL password the configuration gives apart from the URL.
fn password(config: &ConfigStoreConfig) -> Option<&str> {
    config.password.as_ref().map(|p| p.expose().as_str())
}

/// The layer an instance starts on, and the store it came from.
#[derive(Debug)]
pub struct Startup {
    /// The values to start on.
    pub layer: StoredLayer,
    /// The store, when it could be opened.
    store: Option<ConfigStore>,
    /// Why the database could not be read, when the layer came from the cache.
    unreachable: Option<String>,
    /// The database's layer and why it was refused, when the cache stood in for it.
    refused_at_start: Option<(StoredLayer, String)>,
    config: ConfigStoreConfig,
    application: String,
}

impl Startup {
    /// Reads `application`'s values from the store `config` names. When the database
    /// cannot be read, the cache stands in if the configuration allows it
    /// (`start_from_cache`); otherwise the start stops here with an error saying how to
    /// start anyway.
    pub async fn read(
        config: &ConfigStoreConfig,
        application: &str,
    ) -> Result<Self, ConfigStoreError> {
        let mut store = None;
        let read = tokio::time::timeout(READ_TIMEOUT, async {
            let opened = ConfigStore::open_as(&config.url, password(config)).await?;
            store = Some(opened.clone());
            opened.layer(application).await
        })
        .await
        .unwrap_or(Err(ConfigStoreError::TimedOut(READ_TIMEOUT)));
        let startup = |layer, unreachable| Self {
            layer,
            store: store.clone(),
            unreachable,
            refused_at_start: None,
            config: config.clone(),
            application: application.to_owned(),
        };
        match read {
            Ok(layer) => Ok(startup(layer, None)),
            Err(error) => {
                let database = crate::store::without_password(&config.url);
                match (&config.cache_file, config.start_from_cache) {
                    (Some(cache), true) => match crate::cache::load_of(cache, &database).await {
                        Ok(layer) => Ok(startup(layer, Some(plba_util::error_chain(&error)))),
                        Err(cache_error) => Err(ConfigStoreError::Unavailable {
                            database,
                            hint: format!(
                                ", and its cache cannot stand in for it ({})",
                                plba_util::error_chain(&cache_error)
                            ),
                            source: Box::new(error),
                        }),
                    },
                    _ => Err(ConfigStoreError::Unavailable {
                        database,
                        hint: " (to start from the last values applied instead, set platform.config_store.cache_file and start_from_cache)".to_owned(),
                        source: Box::new(error),
                    }),
                }
            }
        }
    }

    /// The cached layer, to start on when the database's values are refused at start-up
    /// (`start_from_cache`), as an instance running when they were written keeps its last
    /// good values.
    pub async fn fall_back_to_cache(mut self, refused: String) -> Option<Self> {
        let cache = self
            .config
            .cache_file
            .as_ref()
            .filter(|_| self.config.start_from_cache)?;
        let database = crate::store::without_password(&self.config.url);
        let layer = crate::cache::load_of(cache, &database).await.ok()?;
        let refused_layer = std::mem::replace(&mut self.layer, layer);
        self.refused_at_start = Some((refused_layer, refused));
        Some(self)
    }
}

/// Where an instance's configuration stands against its store: what `/status`, health and
/// the metrics say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FollowStatus {
    /// The database (no password).
    pub database: String,
    /// Whose values.
    pub application: String,
    /// The revision whose values are in force.
    pub revision: u64,
    /// The latest revision read from the database.
    pub latest_revision: Option<u64>,
    /// `current`, `stale` (the database is away) or `refused` (its values are not valid).
    pub state: FollowState,
    /// What is wrong, when something is.
    pub problem: Option<String>,
    /// Since when (unix milliseconds).
    pub problem_since_ms: Option<i64>,
    /// When the database last answered (unix milliseconds).
    pub last_read_ms: Option<i64>,
    /// When the values in force were applied (unix milliseconds): at start, or when the
    /// change that brought them was.
    pub applied_ms: i64,
    /// What the last change applied needs a restart for.
    pub restart_required: Vec<String>,
}

/// How the values in force relate to the database's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowState {
    /// The database's latest values are in force.
    Current,
    /// The database cannot be read: the last good values stay in force.
    Stale,
    /// The database's values are refused: the last good values stay in force.
    Refused,
}

impl FollowState {
    /// The word status and metrics use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Stale => "stale",
            Self::Refused => "refused",
        }
    }
}

/// What went wrong and since when.
#[derive(Clone, Debug)]
struct Problem {
    error: String,
    since_ms: i64,
    /// The configuration's generation when it went wrong.
    generation: u64,
}

#[derive(Debug)]
struct Progress {
    store: Option<ConfigStore>,
    /// The last layer read, applied or not: an unchanged one is not checked again.
    last_seen: Option<StoredLayer>,
    applied_revision: u64,
    applied_ms: i64,
    latest_revision: Option<u64>,
    unreachable: Option<Problem>,
    refused: Option<(u64, Problem)>,
    last_read_ms: Option<i64>,
    restart_required: Vec<String>,
}

/// Follows a configuration store for one instance: [`spawn`](Self::spawn) runs it.
#[derive(Debug)]
pub struct StoreFollower {
    config: ConfigStoreConfig,
    application: String,
    database: String,
    manager: Arc<ConfigurationManager>,
    progress: Mutex<Progress>,
    /// Serialises reads, so two wake-ups never apply layers out of order.
    reading: tokio::sync::Mutex<()>,
}

impl StoreFollower {
    /// Follows on from `startup`, whose layer `manager` was loaded with.
    pub fn new(startup: Startup, manager: Arc<ConfigurationManager>) -> Arc<Self> {
        let now = now_ms();
        // Said here, once logging is installed: the start-up read came before it.
        let database = crate::store::without_password(&startup.config.url);
        let revision = startup.layer.revision;
        if let Some(error) = &startup.unreachable {
            tracing::warn!(
                database,
                revision,
                error,
                "the configuration database cannot be read: started from its cache; following it once it answers"
            );
        }
        if let Some((_, refused)) = &startup.refused_at_start {
            tracing::warn!(
                database,
                revision,
                refused,
                "the configuration database's values are refused: started from its cache"
            );
        }
        let fresh = startup.unreachable.is_none() && startup.refused_at_start.is_none();
        let (last_seen, refused) = match startup.refused_at_start {
            Some((layer, error)) => {
                let revision = layer.revision;
                (
                    Some(layer),
                    Some((
                        revision,
                        Problem {
                            error,
                            since_ms: now,
                            generation: manager.current().generation(),
                        },
                    )),
                )
            }
            None => (fresh.then(|| startup.layer.clone()), None),
        };
        Arc::new(Self {
            database: crate::store::without_password(&startup.config.url),
            config: startup.config,
            application: startup.application,
            manager,
            progress: Mutex::new(Progress {
                store: startup.store,
                latest_revision: last_seen.as_ref().map(|l| l.revision),
                last_seen,
                applied_revision: startup.layer.revision,
                applied_ms: now,
                unreachable: startup.unreachable.map(|error| Problem {
                    error,
                    since_ms: now,
                    generation: 0,
                }),
                refused,
                last_read_ms: fresh.then_some(now),
                restart_required: Vec::new(),
            }),
            reading: tokio::sync::Mutex::new(()),
        })
    }

    /// Where the instance stands against its store.
    pub fn status(&self) -> FollowStatus {
        let progress = self.progress.lock_or_recover();
        let (state, problem) = match (&progress.unreachable, &progress.refused) {
            (Some(problem), _) => (FollowState::Stale, Some(problem.clone())),
            (None, Some((revision, problem))) => (
                FollowState::Refused,
                Some(Problem {
                    error: format!("revision {revision} refused: {}", problem.error),
                    since_ms: problem.since_ms,
                    generation: problem.generation,
                }),
            ),
            (None, None) => (FollowState::Current, None),
        };
        FollowStatus {
            database: self.database.clone(),
            application: self.application.clone(),
            revision: progress.applied_revision,
            latest_revision: progress.latest_revision,
            state,
            problem_since_ms: problem.as_ref().map(|p| p.since_ms),
            problem: problem.map(|p| p.error),
            last_read_ms: progress.last_read_ms,
            applied_ms: progress.applied_ms,
            restart_required: progress.restart_required.clone(),
        }
    }

    /// Reads the store and applies what changed; what the poll and every announcement do.
    pub async fn refresh(&self) {
        let _one_at_a_time = self.reading.lock().await;
        let store = self.progress.lock_or_recover().store.clone();
        let application = self.application.clone();
        let url = self.config.url.clone();
        let password = password(&self.config);
        let read = tokio::time::timeout(READ_TIMEOUT, async move {
            let store = match store {
                Some(store) => store,
                None => ConfigStore::open_as(&url, password).await?,
            };
            let layer = store.layer(&application).await?;
            Ok::<_, ConfigStoreError>((store, layer))
        })
        .await
        .unwrap_or(Err(ConfigStoreError::TimedOut(READ_TIMEOUT)));
        let layer = match read {
            Ok((store, layer)) => {
                let mut progress = self.progress.lock_or_recover();
                progress.store = Some(store);
                progress.last_read_ms = Some(now_ms());
                progress.latest_revision = Some(layer.revision);
                if let Some(was) = progress.unreachable.take() {
                    tracing::info!(
                        database = self.database,
                        since_ms = was.since_ms,
                        "the configuration database answers again"
                    );
                }
                // An unchanged layer is not checked again, unless it was refused and the
                // rest of the configuration changed since (a reload of the file): what
                // refused it may be gone.
                let reloaded = progress.refused.as_ref().is_some_and(|(_, problem)| {
                    problem.generation != self.manager.current().generation()
                });
                if progress.last_seen.as_ref() == Some(&layer) && !reloaded {
                    return;
                }
                progress.last_seen = Some(layer.clone());
                layer
            }
            // Values no instance would read (made by hand): refused, like a broken row.
            Err(error @ (ConfigStoreError::TooLarge { .. } | ConfigStoreError::TooMany { .. })) => {
                let error = plba_util::error_chain(&error);
                let mut progress = self.progress.lock_or_recover();
                progress.unreachable = None;
                progress.last_read_ms = Some(now_ms());
                progress.last_seen = None;
                let revision = progress
                    .latest_revision
                    .unwrap_or(progress.applied_revision);
                if progress
                    .refused
                    .as_ref()
                    .is_none_or(|(_, p)| p.error != error)
                {
                    tracing::warn!(
                        database = self.database,
                        error,
                        "configuration from the database refused: the last good configuration stays in force"
                    );
                    progress.refused = Some((
                        revision,
                        Problem {
                            error,
                            since_ms: now_ms(),
                            generation: self.manager.current().generation(),
                        },
                    ));
                }
                return;
            }
            Err(error) => {
                let mut progress = self.progress.lock_or_recover();
                if progress.unreachable.is_none() {
                    tracing::warn!(database = self.database, error = %plba_util::error_chain(&error), "the configuration database cannot be read: the last good configuration stays in force");
                }
                let since_ms = progress
                    .unreachable
                    .as_ref()
                    .map_or_else(now_ms, |p| p.since_ms);
                progress.unreachable = Some(Problem {
                    error: plba_util::error_chain(&error),
                    since_ms,
                    generation: 0,
                });
                return;
            }
        };
        let revision = layer.revision;
        match self.manager.apply_stored_layer_async(layer.clone()).await {
            Ok(snapshot) => {
                {
                    let mut progress = self.progress.lock_or_recover();
                    progress.applied_revision = revision;
                    progress.applied_ms = now_ms();
                    progress.refused = None;
                    progress.restart_required = snapshot.restart_required().to_vec();
                }
                tracing::info!(
                    database = self.database,
                    revision,
                    "configuration from the database applied"
                );
                self.save_cache(&layer).await;
            }
            Err(error) => {
                let error = plba_util::error_chain(&error);
                tracing::warn!(
                    database = self.database,
                    revision,
                    error,
                    "configuration from the database refused: the last good configuration stays in force"
                );
                let mut progress = self.progress.lock_or_recover();
                let since_ms = match &progress.refused {
                    Some((_, problem)) => problem.since_ms,
                    None => now_ms(),
                };
                let generation = self.manager.current().generation();
                progress.refused = Some((
                    revision,
                    Problem {
                        error,
                        since_ms,
                        generation,
                    },
                ));
            }
        }
    }

    /// The store, opened again when it could not be at start-up.
    async fn store(&self) -> Result<ConfigStore, ConfigStoreError> {
        let store = self.progress.lock_or_recover().store.clone();
        match store {
            Some(store) => Ok(store),
            None => {
                let store = ConfigStore::open_as(&self.config.url, password(&self.config)).await?;
                self.progress.lock_or_recover().store = Some(store.clone());
                Ok(store)
            }
        }
    }

    /// The newest `limit` changes (of `key` only, when given), newest first.
    pub async fn history(
        &self,
        key: Option<&str>,
        limit: usize,
    ) -> Result<Vec<crate::HistoryEntry>, ConfigStoreError> {
        let store = self.store().await?;
        tokio::time::timeout(READ_TIMEOUT, store.history(&self.application, key, limit))
            .await
            .unwrap_or(Err(ConfigStoreError::TimedOut(READ_TIMEOUT)))
    }

    /// Sets (or, with `None`, removes) `key` in the database as `actor`, once this
    /// instance's checks of a reload accept the values it makes; applied here at once, and
    /// by every other instance as it hears of it.
    pub async fn change(
        &self,
        key: &str,
        value: Option<String>,
        actor: &str,
        comment: Option<&str>,
    ) -> Result<crate::Committed, ConfigStoreError> {
        let store = self.store().await?;
        let change = crate::Change {
            key: key.to_owned(),
            value,
        };
        let database = self.database.clone();
        let plan = |layer: StoredLayer| {
            let change = change.clone();
            let database = database.clone();
            async move {
                let changes = crate::changes_setting(&layer, &change.key, change.value.clone());
                if changes.is_empty() && change.value.is_none() {
                    return Err(ConfigStoreError::NotSet {
                        key: change.key,
                        database,
                    });
                }
                Ok(changes)
            }
        };
        let check = |candidate: StoredLayer, changes: Vec<crate::Change>| {
            let manager = Arc::clone(&self.manager);
            async move {
                manager
                    .check_stored_layer_async(candidate)
                    .await
                    .map_err(|error| plba_util::error_chain(&error))?;
                match crate::shadowed(&manager.current(), &changes) {
                    Some(why) => Err(why),
                    None => Ok(()),
                }
            }
        };
        let committed = tokio::time::timeout(
            READ_TIMEOUT,
            store.commit_checked(&self.application, actor, comment, plan, check),
        )
        .await
        .unwrap_or(Err(ConfigStoreError::TimedOut(READ_TIMEOUT)))?;
        self.refresh().await;
        Ok(committed)
    }

    /// Keeps the layer in force for a start while the database is away.
    pub async fn save_cache(&self, layer: &StoredLayer) {
        if let Some(path) = &self.config.cache_file
            && let Err(error) = crate::cache::save(path, layer).await
        {
            tracing::warn!(error = %plba_util::error_chain(&error), "the configuration cache was not written");
        }
    }

    /// Follows the store until `cancel` fires: a read every `poll_interval_ms`, and one as
    /// soon as PostgreSQL announces a change.
    pub fn spawn(self: &Arc<Self>, cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
        let follower = Arc::clone(self);
        let announced = Arc::new(tokio::sync::Notify::new());
        match crate::store::with_password(&self.config.url, password(&self.config)) {
            Ok(url) => crate::listen::spawn(&url, Arc::clone(&announced), cancel.clone()),
            // The poll still follows; the URL's error shows in every read.
            Err(error) => tracing::warn!(error = %error, "not listening for configuration changes"),
        }
        tokio::spawn(async move {
            let fresh = {
                let progress = follower.progress.lock_or_recover();
                let current = progress.unreachable.is_none() && progress.refused.is_none();
                progress.last_seen.clone().filter(|_| current)
            };
            if let Some(layer) = fresh {
                follower.save_cache(&layer).await;
            }
            let mut ticks =
                tokio::time::interval(Duration::from_millis(follower.config.poll_interval_ms));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    _ = ticks.tick() => {}
                    () = announced.notified() => {}
                }
                follower.refresh().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use plba_config::ConfigSource;
    use plba_contracts::{ConfigError, ConfigProvider, ConfigProviderExt, ConfigSubscriber};

    use super::*;
    use crate::Change;

    /// Refuses `app.a` equal to `app.b`: a check that depends on the file and the store.
    struct Distinct;

    impl ConfigSubscriber for Distinct {
        fn check(&self, candidate: &dyn ConfigProvider) -> Result<Vec<String>, ConfigError> {
            let app: serde_json::Value = candidate.section("app")?.unwrap_or_default();
            if app["a"] == app["b"] {
                return Err(ConfigError::invalid("b", "must differ from a"));
            }
            Ok(Vec::new())
        }

        fn apply(&self, _config: &dyn ConfigProvider) {}
    }

    fn set(key: &str, value: &str) -> Change {
        Change {
            key: key.to_owned(),
            value: Some(value.to_owned()),
        }
    }

    #[tokio::test]
    async fn a_follower_applies_refuses_keeps_the_last_good_and_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.yaml");
        std::fs::write(&file, "app:\n  a: 1\n  b: 2\n").unwrap();
        let config: ConfigStoreConfig = serde_json::from_value(serde_json::json!({
            "url": format!("sqlite://{}", dir.path().join("c.db").display()),
            "cache_file": dir.path().join("cache.json"),
        }))
        .unwrap();
        let startup = Startup::read(&config, "app").await.unwrap();
        let source = ConfigSource::new()
            .with_file(&file)
            .with_env_vars(Vec::<(String, String)>::new());
        let manager = Arc::new(
            ConfigurationManager::load(source.with_stored_layer(startup.layer.clone())).unwrap(),
        );
        manager.add_subscriber("test", Arc::new(Distinct));
        let follower = StoreFollower::new(startup, Arc::clone(&manager));
        let b = || {
            manager
                .current()
                .section::<serde_json::Value>("app")
                .unwrap()
                .unwrap()["b"]
                .clone()
        };
        let store = ConfigStore::open(&config.url).await.unwrap();

        store
            .apply("app", &[set("app.b", "3")], "ana", None)
            .await
            .unwrap();
        follower.refresh().await;
        let status = follower.status();
        assert_eq!((status.state, status.revision), (FollowState::Current, 1));
        assert_eq!(b(), 3);

        // Refused because of what this host's file says: kept out, and said so.
        store
            .apply("app", &[set("app.b", "1")], "ana", None)
            .await
            .unwrap();
        follower.refresh().await;
        let status = follower.status();
        assert_eq!((status.state, status.revision), (FollowState::Refused, 1));
        assert!(status.problem.unwrap().contains("must differ"));
        assert_eq!(b(), 3, "the last good value stays");
        follower.refresh().await;
        assert_eq!(follower.status().state, FollowState::Refused);

        // The file changes and is reloaded: the refused values are tried again.
        std::fs::write(&file, "app:\n  a: 5\n  b: 2\n").unwrap();
        manager.reload().unwrap();
        follower.refresh().await;
        let status = follower.status();
        assert_eq!((status.state, status.revision), (FollowState::Current, 2));
        assert_eq!(b(), 1);
        // The values applied are cached for a start without the database.
        let cached = crate::cache::load(config.cache_file.as_ref().unwrap())
            .await
            .unwrap();
        assert_eq!(cached.revision, 2);
    }
}

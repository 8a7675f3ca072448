//! The `mail_order_bot` section as the running bot follows it: read and checked the same
//! way at `check-config`, start-up and every reload; customers, limits and the catalog
//! applied live, everything else reported as needing a restart.

use plba_util::{Unpoisoned, UnpoisonedRw};
use std::sync::{Arc, Mutex, RwLock};

use plba_contracts::{ConfigError, ConfigProvider, ConfigSubscriber};

use crate::config::{AppConfig, MODULE};
use crate::decision::{Catalog, Rules};
use crate::error::DomainError;

/// Reads the `mail_order_bot` section (typed defaults when absent) and checks it. Errors
/// name the full key and where its value came from.
pub fn read_config(config: &dyn ConfigProvider) -> Result<AppConfig, ConfigError> {
    let app = AppConfig::from_config(config)?.unwrap_or_default();
    app.check().map_err(|e| e.located(MODULE, config))?;
    Ok(app)
}

/// [`read_config`], then the rules it implies (the catalog file is read here, so a broken
/// catalog is a configuration error, not a failure of every mail).
pub(super) fn read_rules(config: &dyn ConfigProvider) -> Result<(AppConfig, Rules), ConfigError> {
    let app = read_config(config)?;
    let rules = rules_of(&app).map_err(|e| {
        ConfigError::invalid("catalog", plba_util::error_chain(&e)).located(MODULE, config)
    })?;
    Ok((app, rules))
}

/// The rules `app` states (reads the catalog file, if any).
fn rules_of(app: &AppConfig) -> Result<Rules, DomainError> {
    let catalog = app.catalog.as_deref().map(Catalog::load).transpose()?;
    Ok(Rules::new(
        app.customers.clone(),
        catalog,
        app.limits.clone(),
    ))
}

/// The rules in force; replaced whole on reload, so a mail is judged by one version.
#[derive(Debug, Default)]
pub struct LiveRules(RwLock<Arc<Rules>>);

impl LiveRules {
    /// Rules that start as `rules`.
    pub fn new(rules: Rules) -> Self {
        Self(RwLock::new(Arc::new(rules)))
    }

    /// The rules in force now.
    pub fn current(&self) -> Arc<Rules> {
        Arc::clone(&self.0.read_or_recover())
    }

    fn replace(&self, rules: Arc<Rules>) {
        *self.0.write_or_recover() = rules;
    }
}

/// Follows reloads of the `mail_order_bot` section.
pub(super) struct ConfigFollower {
    /// The section the running workers were built from.
    running: AppConfig,
    rules: Arc<LiveRules>,
    /// Rules built by the last successful check, installed by `apply`.
    checked: Mutex<Option<Arc<Rules>>>,
}

impl ConfigFollower {
    pub(super) fn new(running: AppConfig, rules: Arc<LiveRules>) -> Self {
        Self {
            running,
            rules,
            checked: Mutex::new(None),
        }
    }
}

impl ConfigSubscriber for ConfigFollower {
    fn check(&self, candidate: &dyn ConfigProvider) -> Result<Vec<String>, ConfigError> {
        let (app, rules) = read_rules(candidate)?;
        *self.checked.lock_or_recover() = Some(Arc::new(rules));
        Ok(app.restart_required(&self.running))
    }

    fn apply(&self, _config: &dyn ConfigProvider) {
        if let Some(rules) = self.checked.lock_or_recover().take() {
            self.rules.replace(rules);
            tracing::info!("customers, limits and catalog reloaded");
        }
    }
}

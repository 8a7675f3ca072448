//! The `invoice_reminders` section: the webhook listener, the reminder stages, the
//! template, where e-mail goes, the store and the queue.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use plba_contracts::{ConfigError, ConfigProvider, ConfigProviderExt, ConfigSubscriber};
use plba_queue_memory::MemoryQueueOptions;
use plba_redis::RedisQueueOptions;
use plba_webhook::WebhookConfig;
use serde::Deserialize;

pub use crate::mailer::{MailConfig, SmtpTls};
pub use crate::template::TemplateConfig;

/// The module's name and its configuration section.
pub const MODULE: &str = "invoice_reminders";

/// The queue invoices, payments and reminders travel on.
pub const QUEUE: &str = "reminders";

/// The task an invoice webhook makes.
pub const INVOICE_TASK: &str = "invoice";
/// The task a payment webhook makes.
pub const PAYMENT_TASK: &str = "payment";
/// The delayed task of one reminder.
pub const REMINDER_TASK: &str = "reminder";

/// The whole section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The listener the accounting system posts invoices and payments to.
    pub webhooks: WebhookConfig,
    /// When reminders go out, after the due moment.
    pub stages: Vec<Stage>,
    /// The time zone a due date's end is taken in.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// The reminder e-mail.
    #[serde(default)]
    pub template: TemplateConfig,
    /// Where reminders are sent.
    pub mail: MailConfig,
    /// Where invoices and reminders are kept.
    pub store: StoreConfig,
    /// The queue between the webhooks and the handlers.
    #[serde(default)]
    pub queue: QueueConfig,
    /// Handlers working at once.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// How long past its time a reminder still waiting is published again (its task was
    /// lost: the memory queue dies with its process), and how often that is looked for.
    #[serde(default = "default_recover_after")]
    pub recover_after: String,
}

fn default_recover_after() -> String {
    "1m".to_owned()
}

fn default_time_zone() -> String {
    "UTC".to_owned()
}

fn default_workers() -> usize {
    4
}

/// One reminder: its name and how long after the due moment it goes out.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// The stage's name (`first`, `final`), in the e-mail and the store.
    pub name: String,
    /// How long after the due moment (`3d`, `36h`, `10s`).
    pub after: String,
}

impl Stage {
    /// The delay after the due moment.
    pub fn delay(&self) -> Result<Duration, ConfigError> {
        humantime::parse_duration(&self.after).map_err(|error| {
            ConfigError::invalid(
                "after",
                format!(
                    "{:?} is not a duration such as 3d or 36h: {error}",
                    self.after
                ),
            )
        })
    }
}

/// Where invoices and reminders are kept.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StoreConfig {
    /// One SQLite file: one instance.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// PostgreSQL: several instances share it.
    Postgres {
        /// `postgres://user@host/db` (a password belongs in the environment:
        /// `PLBA__INVOICE_REMINDERS__STORE__URL`).
        url: String,
    },
}

/// The queue between the webhooks and the handlers.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QueueConfig {
    /// In the process: what it holds dies with the process (the demo).
    Memory(MemoryQueueOptions),
    /// Redis Streams: survives a crash, shared by several instances.
    Redis(RedisQueueOptions),
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self::Memory(MemoryQueueOptions::default())
    }
}

impl AppConfig {
    /// The section from `config`, decoded and checked; errors name the full key.
    pub fn read(config: &dyn ConfigProvider) -> Result<Self, ConfigError> {
        let app: Self = config
            .section(MODULE)?
            .ok_or_else(|| ConfigError::invalid(MODULE, "the section is missing"))?;
        app.check().map_err(|error| error.located(MODULE, config))?;
        app.webhooks
            .check_ports(config)
            .map_err(|error| error.within("webhooks").located(MODULE, config))?;
        Ok(app)
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.webhooks
            .check(&[QUEUE])
            .map_err(|error| error.within("webhooks"))?;
        if self.stages.is_empty() {
            return Err(ConfigError::invalid("stages", "name at least one stage"));
        }
        let mut previous = Duration::ZERO;
        for (index, stage) in self.stages.iter().enumerate() {
            crate::invoice::check_text("name", &stage.name).map_err(|error| {
                ConfigError::invalid(format!("stages.{index}.name"), error.reason)
            })?;
            if self.stages[..index].iter().any(|s| s.name == stage.name) {
                return Err(ConfigError::invalid(
                    format!("stages.{index}.name"),
                    format!("{:?} names an earlier stage too", stage.name),
                ));
            }
            let delay = stage
                .delay()
                .map_err(|e| e.within(&format!("stages.{index}")))?;
            // The handler skips the stages before the latest past one: they must be in order.
            if index > 0 && delay <= previous {
                return Err(ConfigError::invalid(
                    format!("stages.{index}.after"),
                    "stages go in order: each comes later than the one before",
                ));
            }
            previous = delay;
        }
        for task in [INVOICE_TASK, PAYMENT_TASK] {
            if !self.webhooks.routes.iter().any(|route| route.task == task) {
                return Err(ConfigError::invalid(
                    "webhooks.routes",
                    format!("no route makes `{task}` tasks: invoices and payments each need one"),
                ));
            }
        }
        if let Some((index, route)) = self
            .webhooks
            .routes
            .iter()
            .enumerate()
            .find(|(_, route)| ![INVOICE_TASK, PAYMENT_TASK].contains(&route.task.as_str()))
        {
            return Err(ConfigError::invalid(
                format!("webhooks.routes.{index}.task"),
                format!(
                    "{:?} is not a task of this application: `{INVOICE_TASK}` or `{PAYMENT_TASK}`",
                    route.task
                ),
            ));
        }
        self.recover_after()?;
        self.time_zone()?;
        crate::template::Templates::new(&self.template)
            .map_err(|error| ConfigError::invalid("template", plba_util::error_chain(&error)))?;
        crate::mailer::sender(self.mail.from())
            .map_err(|error| ConfigError::invalid("mail.from", error.to_string()))?;
        self.mail.check().map_err(|error| error.within("mail"))?;
        match &self.queue {
            QueueConfig::Memory(options) => options.check(),
            QueueConfig::Redis(options) => options.check(),
        }
        .map_err(|error| error.within("queue"))?;
        if self.workers == 0 {
            return Err(ConfigError::invalid("workers", "must be at least 1"));
        }
        Ok(())
    }

    /// How long past its time a waiting reminder is published again.
    pub fn recover_after(&self) -> Result<Duration, ConfigError> {
        match humantime::parse_duration(&self.recover_after) {
            Ok(after) if after >= Duration::from_secs(1) => Ok(after),
            _ => Err(ConfigError::invalid(
                "recover_after",
                format!(
                    "{:?} is not a duration of at least 1s (such as 1m)",
                    self.recover_after
                ),
            )),
        }
    }

    /// A subscriber that tells a reload which changes wait for a restart: this section is
    /// read once, at start (the listener, its secrets and limits included).
    pub fn follower(config: &dyn ConfigProvider) -> Result<Arc<dyn ConfigSubscriber>, ConfigError> {
        Ok(Arc::new(Follower(config.section_value(MODULE)?)))
    }

    /// The configured time zone.
    pub fn time_zone(&self) -> Result<chrono_tz::Tz, ConfigError> {
        self.time_zone.parse().map_err(|_| {
            ConfigError::invalid(
                "time_zone",
                format!(
                    "{:?} is not a time zone such as Europe/Berlin",
                    self.time_zone
                ),
            )
        })
    }
}

/// The section as the process started with it: a reload that changes it says a restart is
/// needed, rather than keeping the old values in silence.
struct Follower(Option<serde_json::Value>);

impl ConfigSubscriber for Follower {
    fn check(&self, candidate: &dyn ConfigProvider) -> Result<Vec<String>, ConfigError> {
        AppConfig::read(candidate)?;
        Ok(if candidate.section_value(MODULE)? == self.0 {
            Vec::new()
        } else {
            vec![MODULE.to_owned()]
        })
    }

    fn apply(&self, _config: &dyn ConfigProvider) {}
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn section() -> serde_json::Value {
        serde_json::json!({ "invoice_reminders": {
            "webhooks": {"routes": [
                {"path": "/i", "queue": "reminders", "task": "invoice",
                 "auth": {"hmac": {"secret": "0123456789abcdef"}}},
                {"path": "/p", "queue": "reminders", "task": "payment",
                 "auth": {"bearer": {"token": "0123456789abcdef"}}},
            ]},
            "stages": [{"name": "first", "after": "3d"}, {"name": "second", "after": "10d"}],
            "mail": {"kind": "files", "directory": "out", "from": "b@example.com"},
            "store": {"kind": "sqlite", "path": "r.db"},
        }})
    }

    fn key(config: &serde_json::Value) -> String {
        match AppConfig::read(config).unwrap_err() {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn stages_out_of_order_and_unknown_tasks_are_refused() {
        AppConfig::read(&section()).unwrap();
        let mut unordered = section();
        unordered["invoice_reminders"]["stages"][1]["after"] = "1d".into();
        assert_eq!(key(&unordered), "invoice_reminders.stages.1.after");
        let mut misspelt = section();
        misspelt["invoice_reminders"]["webhooks"]["routes"][1]["task"] = "paymnet".into();
        assert_eq!(key(&misspelt), "invoice_reminders.webhooks.routes");
    }

    #[test]
    fn a_password_never_goes_to_another_host_in_clear_text() {
        let smtp = |host: &str, tls: &str, extra: serde_json::Value| {
            let mut config = section();
            let mut mail = serde_json::json!({
                "kind": "smtp", "host": host, "from": "b@example.com", "tls": tls,
            });
            for (k, v) in extra.as_object().unwrap() {
                mail[k] = v.clone();
            }
            config["invoice_reminders"]["mail"] = mail;
            config
        };
        let login = serde_json::json!({"username": "u", "password": "p"});
        assert_eq!(
            key(&smtp("mail.example.com", "none", login.clone())),
            "invoice_reminders.mail.tls"
        );
        AppConfig::read(&smtp("127.0.0.1", "none", login.clone())).unwrap();
        AppConfig::read(&smtp("mail.example.com", "starttls", login)).unwrap();
        assert_eq!(
            key(&smtp(
                "mail.example.com",
                "tls",
                serde_json::json!({"username": "u"})
            )),
            "invoice_reminders.mail.username"
        );
    }

    #[test]
    fn a_reload_that_changes_the_section_says_it_waits_for_a_restart() {
        let follower = AppConfig::follower(&section()).unwrap();
        assert!(follower.check(&section()).unwrap().is_empty());
        let mut rotated = section();
        rotated["invoice_reminders"]["webhooks"]["routes"][0]["auth"]["hmac"]["secret"] =
            "fedcba9876543210".into();
        assert_eq!(follower.check(&rotated).unwrap(), vec![MODULE.to_owned()]);
    }
}

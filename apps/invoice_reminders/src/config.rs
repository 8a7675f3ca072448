//! The `invoice_reminders` section: the webhook listener, the reminder stages, the
//! template, where e-mail goes, the store and the queue.

use std::path::PathBuf;
use std::time::Duration;

use plba_contracts::{ConfigError, ConfigProvider, ConfigProviderExt};
use plba_queue_memory::MemoryQueueOptions;
use plba_redis::RedisQueueOptions;
use plba_webhook::WebhookConfig;
use serde::Deserialize;

pub use crate::mailer::MailConfig;
pub use crate::template::TemplateConfig;

/// The module's name and its configuration section.
pub const MODULE: &str = "invoice_reminders";

/// The queue invoices, payments and reminders travel on.
pub const QUEUE: &str = "reminders";

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
        Ok(app)
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.webhooks
            .check(&[QUEUE])
            .map_err(|error| error.within("webhooks"))?;
        if self.stages.is_empty() {
            return Err(ConfigError::invalid("stages", "name at least one stage"));
        }
        for (index, stage) in self.stages.iter().enumerate() {
            crate::invoice::check_text("name", &stage.name).map_err(|error| {
                ConfigError::invalid(format!("stages.{index}.name"), error.reason)
            })?;
            stage
                .delay()
                .map_err(|error| error.within(&format!("stages.{index}")))?;
            if self.stages[..index].iter().any(|s| s.name == stage.name) {
                return Err(ConfigError::invalid(
                    format!("stages.{index}.name"),
                    format!("{:?} names an earlier stage too", stage.name),
                ));
            }
        }
        self.time_zone()?;
        crate::template::Templates::new(&self.template)
            .map_err(|error| ConfigError::invalid("template", plba_util::error_chain(&error)))?;
        crate::mailer::sender(self.mail.from())
            .map_err(|error| ConfigError::invalid("mail.from", error.to_string()))?;
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

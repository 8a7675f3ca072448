//! The application module: what invoice_reminders asks the runtime to run.

use std::sync::Arc;

use plba_contracts::{
    ApplicationModule, ConfigError, ConfigProvider, HealthContributor, HealthOptions, HealthReport,
    Registry, RegistryError, RegistryExt, TaskQueue, async_trait,
};
use plba_queue_memory::MemoryQueue;
use plba_redis::RedisQueue;
use plba_webhook::WebhookSource;
use plba_workers::QueueWorkerPool;

use crate::config::{AppConfig, MODULE, QUEUE, QueueConfig};
use crate::handler::{ReminderHandler, StageDelay};
use crate::mailer::{Mailer, sender};
use crate::store::ReminderStore;
use crate::template::Templates;
use crate::views::{InvoicesView, RemindersView};

/// invoice_reminders: webhooks → queue → handlers → store and e-mail.
#[derive(Debug, Default)]
pub struct InvoiceReminders;

fn failed<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
) -> impl FnOnce(E) -> RegistryError {
    move |source| RegistryError::module(MODULE, what, source)
}

struct StoreHealth(ReminderStore);

#[async_trait]
impl HealthContributor for StoreHealth {
    async fn check(&self) -> HealthReport {
        match self.0.check_writable().await {
            Ok(()) => HealthReport::ok(),
            Err(error) => HealthReport::unhealthy(plba_util::error_chain(&error)),
        }
    }
}

#[async_trait]
impl ApplicationModule for InvoiceReminders {
    fn name(&self) -> &str {
        MODULE
    }

    fn check_config(&self, config: &dyn ConfigProvider) -> Result<(), ConfigError> {
        AppConfig::read(config).map(drop)
    }

    async fn register(&self, registry: &mut dyn Registry) -> Result<(), RegistryError> {
        let config = AppConfig::read(registry.config())?;
        let store = ReminderStore::open(&config.store)
            .await
            .map_err(failed("the reminder store"))?;
        let queue: Arc<dyn TaskQueue> = match config.queue.clone() {
            QueueConfig::Memory(options) => {
                Arc::new(MemoryQueue::new(QUEUE, options).map_err(failed("the memory queue"))?)
            }
            QueueConfig::Redis(options) => {
                let redis = RedisQueue::connect(QUEUE, options)
                    .await
                    .map_err(failed("the Redis queue"))?;
                registry.add_health_contributor(
                    "queue-redis",
                    redis.health_contributor(),
                    HealthOptions::critical(),
                )?;
                Arc::new(redis)
            }
        };
        let from = sender(config.mail.from()).map_err(failed("the sender"))?;
        let handler = ReminderHandler {
            store: store.clone(),
            publisher: registry.publisher(Arc::clone(&queue)),
            stages: config
                .stages
                .iter()
                .map(|s| {
                    Ok(StageDelay {
                        name: s.name.clone(),
                        after: s.delay()?,
                    })
                })
                .collect::<Result<_, ConfigError>>()?,
            time_zone: config.time_zone()?,
            templates: Templates::new(&config.template).map_err(failed("the templates"))?,
            mailer: Arc::new(Mailer::new(&config.mail).map_err(failed("the mailer"))?),
            domain: from.email.domain().to_owned(),
        };
        registry.add_view(Arc::new(InvoicesView(store.clone())))?;
        registry.add_view(Arc::new(RemindersView(store.clone())))?;
        registry.add_health_contributor(
            "reminder-store",
            Arc::new(StoreHealth(store)),
            HealthOptions::critical(),
        )?;
        QueueWorkerPool::new("reminder-handlers", Arc::clone(&queue), Arc::new(handler))
            .concurrency(config.workers)
            .register(registry)?;
        let publisher = registry.publisher(queue);
        WebhookSource::new(config.webhooks)
            .queue(publisher)
            .register(registry)?;
        Ok(())
    }
}

//! The application module: what invoice_reminders asks the runtime to run.

use std::error::Error;
use std::sync::Arc;

use plba_contracts::{
    ApplicationModule, ConfigError, ConfigProvider, HealthOptions, Registry, RegistryError,
    RegistryExt, TaskQueue, async_trait,
};
use plba_queue_memory::MemoryQueue;
use plba_redis::RedisQueue;
use plba_workers::QueueWorkerPool;

use crate::config::{AppConfig, MODULE, QUEUE, QueueConfig};
use crate::edge::webhooks;
use crate::handler::ReminderHandler;
use crate::recovery::recovery;
use crate::store::ReminderStore;
use crate::views::{InvoicesView, RemindersView};

/// invoice_reminders: webhooks → queue → handlers → store and e-mail.
#[derive(Debug, Default)]
pub struct InvoiceReminders;

fn failed<E: Error + Send + Sync + 'static>(what: &'static str) -> impl FnOnce(E) -> RegistryError {
    move |source| RegistryError::module(MODULE, what, source)
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
        registry.add_config_subscriber(AppConfig::follower(registry.config())?)?;
        let critical = HealthOptions::critical();
        let store = ReminderStore::open(&config.store).await?;
        let queue: Arc<dyn TaskQueue> = match config.queue.clone() {
            QueueConfig::Memory(options) => {
                Arc::new(MemoryQueue::new(QUEUE, options).map_err(failed("the memory queue"))?)
            }
            QueueConfig::Redis(options) => {
                let redis = RedisQueue::connect(QUEUE, options)
                    .await
                    .map_err(failed("the Redis queue"))?;
                let health = redis.health_contributor();
                registry.add_health_contributor("queue-redis", health, critical)?;
                Arc::new(redis)
            }
        };
        let publisher = registry.publisher(Arc::clone(&queue));
        let handler = ReminderHandler::new(&config, store.clone(), publisher.clone())?;
        registry.add_view(Arc::new(InvoicesView(store.clone())))?;
        registry.add_view(Arc::new(RemindersView(store.clone())))?;
        registry.add_health_contributor("reminder-store", store.health_contributor(), critical)?;
        QueueWorkerPool::new("reminder-handlers", queue, Arc::new(handler))
            .concurrency(config.workers)
            .register(registry)?;
        let recovery = recovery(store.clone(), publisher.clone(), config.recover_after()?);
        registry.add_schedule(recovery)?;
        webhooks(&config, publisher)?.register(registry)?;
        Ok(())
    }
}

//! A Redis queue that connects on first use, for code that must build its queues without
//! awaiting (module registration).

use std::sync::Arc;
use std::time::Duration;

use plba_contracts::{
    DeadLetter, Delivery, HealthContributor, HealthReport, NackOutcome, QueueError, QueueStats,
    Task, TaskQueue, async_trait,
};
use tokio::sync::OnceCell;

use crate::options::{RedisQueueError, RedisQueueOptions};
use crate::queue::RedisQueue;

/// A [`RedisQueue`] that connects on its first operation and keeps trying on later ones while
/// Redis is unreachable (each failed attempt is a transient `QueueError::Unavailable`).
#[derive(Clone)]
pub struct LazyRedisQueue {
    inner: Arc<Lazy>,
}

struct Lazy {
    name: String,
    options: RedisQueueOptions,
    queue: OnceCell<RedisQueue>,
}

impl LazyRedisQueue {
    /// Checks the URL now; connects later.
    pub fn new(
        name: impl Into<String>,
        options: RedisQueueOptions,
    ) -> Result<Self, RedisQueueError> {
        let name = name.into();
        redis::Client::open(options.url.as_str()).map_err(|e| RedisQueueError::Url {
            queue: name.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            inner: Arc::new(Lazy {
                name,
                options,
                queue: OnceCell::new(),
            }),
        })
    }

    /// The connected queue, connecting now if needed.
    pub async fn get(&self) -> Result<&RedisQueue, QueueError> {
        let lazy = &self.inner;
        lazy.queue
            .get_or_try_init(|| RedisQueue::connect(lazy.name.clone(), lazy.options.clone()))
            .await
            .map_err(|e| QueueError::Unavailable {
                queue: lazy.name.clone(),
                reason: e.to_string(),
            })
    }

    /// The options (for the attempt limit and the like).
    pub fn options(&self) -> &RedisQueueOptions {
        &self.inner.options
    }

    /// A health contributor: unhealthy while the queue cannot connect for `outage_limit`,
    /// then the connected queue's own health.
    pub fn health_contributor(&self, outage_limit: Duration) -> Arc<dyn HealthContributor> {
        Arc::new(LazyHealth {
            queue: self.clone(),
            outage_limit,
            health: OnceCell::new(),
        })
    }
}

struct LazyHealth {
    queue: LazyRedisQueue,
    outage_limit: Duration,
    health: OnceCell<Arc<dyn HealthContributor>>,
}

#[async_trait]
impl HealthContributor for LazyHealth {
    async fn check(&self) -> HealthReport {
        match self.queue.get().await {
            Ok(queue) => {
                let health = self
                    .health
                    .get_or_init(|| async { queue.health_contributor(self.outage_limit) })
                    .await;
                health.check().await
            }
            Err(error) => HealthReport::degraded(format!("not connected yet: {error}")),
        }
    }
}

#[async_trait]
impl TaskQueue for LazyRedisQueue {
    fn name(&self) -> &str {
        &self.inner.name
    }

    async fn publish(&self, task: Task) -> Result<(), QueueError> {
        self.get().await?.publish(task).await
    }

    async fn consume(&self) -> Result<Delivery, QueueError> {
        self.get().await?.consume().await
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        self.get().await?.ack(delivery).await
    }

    async fn nack(
        &self,
        delivery: Delivery,
        retry_delay: Option<Duration>,
        reason: &str,
    ) -> Result<NackOutcome, QueueError> {
        self.get().await?.nack(delivery, retry_delay, reason).await
    }

    async fn dead_letter(&self, delivery: Delivery, reason: &str) -> Result<(), QueueError> {
        self.get().await?.dead_letter(delivery, reason).await
    }

    async fn release(&self, delivery: Delivery) -> Result<(), QueueError> {
        self.get().await?.release(delivery).await
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        self.get().await?.stats().await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        self.get().await?.dead_letters(limit).await
    }
}

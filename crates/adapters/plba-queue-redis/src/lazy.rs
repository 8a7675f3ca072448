//! A Redis queue that connects on first use, for code that must build its queues without
//! awaiting (module registration).

use plba_contracts::Unpoisoned;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plba_contracts::{
    DeadLetter, Delivery, HealthContributor, HealthReport, NackOutcome, QueueError, QueueStats,
    Task, TaskQueue, async_trait,
};
use tokio::sync::OnceCell;

use crate::condition::LostListeners;
use crate::error::{RedisQueueError, unavailable, unavailable_because};
use crate::options::RedisQueueOptions;
use crate::queue::RedisQueue;

/// A [`RedisQueue`] that connects on its first operation and keeps trying on later ones while
/// Redis is unreachable (each failed attempt is a transient `QueueError::Unavailable`, except
/// for `consume`, which waits until it can connect).
#[derive(Clone)]
pub struct LazyRedisQueue {
    inner: Arc<Lazy>,
}

impl std::fmt::Debug for LazyRedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the options: the URL may hold a password.
        f.debug_struct("LazyRedisQueue")
            .field("name", &self.inner.name)
            .field("queue", &self.inner.queue.get())
            .finish_non_exhaustive()
    }
}

struct Lazy {
    name: String,
    options: RedisQueueOptions,
    queue: OnceCell<RedisQueue>,
    /// Why the last attempt to connect failed, for health and stats until one succeeds.
    last_error: Mutex<Option<String>>,
    /// Handed to the queue when it connects.
    lost: Arc<LostListeners>,
}

/// The longest pause of a consumer between attempts to connect.
const CONNECT_PAUSE_MAX: Duration = Duration::from_secs(1);

impl LazyRedisQueue {
    /// Checks the URL now; connects later.
    pub fn new(
        name: impl Into<String>,
        options: RedisQueueOptions,
    ) -> Result<Self, RedisQueueError> {
        let name = name.into();
        redis::Client::open(options.url.as_str())
            .map_err(|e| RedisQueueError::url(name.as_str(), e))?;
        Ok(Self {
            inner: Arc::new(Lazy {
                name,
                options,
                queue: OnceCell::new(),
                last_error: Mutex::new(None),
                lost: Arc::default(),
            }),
        })
    }

    async fn connect(&self) -> Result<&RedisQueue, RedisQueueError> {
        let lazy = &self.inner;
        let connected = lazy
            .queue
            .get_or_try_init(|| {
                RedisQueue::connect_with(
                    lazy.name.clone(),
                    lazy.options.clone(),
                    Arc::clone(&lazy.lost),
                )
            })
            .await;
        // The whole chain: health shows only this text, not the error.
        *lazy.last_error.lock_or_recover() = connected
            .as_ref()
            .err()
            .map(|e| plba_contracts::error_chain(e));
        connected
    }

    /// The connected queue, connecting now if needed.
    pub async fn get(&self) -> Result<&RedisQueue, QueueError> {
        self.connect()
            .await
            .map_err(|e| unavailable(&self.inner.name, &e))
    }

    /// Why no task can be consumed yet, when the queue has not connected.
    fn not_connected(&self) -> String {
        match &*self.inner.last_error.lock_or_recover() {
            Some(error) => format!("not connected to Redis yet: {error}"),
            None => "not connected to Redis yet".to_owned(),
        }
    }

    /// The options (for the attempt limit and the like).
    pub fn options(&self) -> &RedisQueueOptions {
        &self.inner.options
    }

    /// See [`RedisQueue::on_contents_lost`]; listeners added before the queue connects are
    /// kept for it.
    pub fn on_contents_lost(&self, listener: impl Fn() + Send + Sync + 'static) {
        self.inner.lost.add(Arc::new(listener));
    }

    /// A health contributor: unhealthy until the queue has connected, then the connected
    /// queue's own health (see [`RedisQueue::health_contributor`]). It never connects or
    /// waits on Redis itself.
    pub fn health_contributor(&self) -> Arc<dyn HealthContributor> {
        Arc::new(LazyHealth {
            queue: self.clone(),
            health: OnceCell::new(),
        })
    }
}

struct LazyHealth {
    queue: LazyRedisQueue,
    health: OnceCell<Arc<dyn HealthContributor>>,
}

#[async_trait]
impl HealthContributor for LazyHealth {
    async fn check(&self) -> HealthReport {
        match self.queue.inner.queue.get() {
            Some(queue) => {
                let health = self
                    .health
                    .get_or_init(|| async { queue.health_contributor() })
                    .await;
                health.check().await
            }
            None => HealthReport::unhealthy(self.queue.not_connected()),
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

    /// Waits until the queue can connect (an unreachable Redis is waited out, as the
    /// connected queue's `consume` does), then for a task.
    async fn consume(&self) -> Result<Delivery, QueueError> {
        let mut pause = Duration::from_millis(100);
        loop {
            match self.connect().await {
                Ok(queue) => return queue.consume().await,
                Err(RedisQueueError::Unreachable { .. }) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(CONNECT_PAUSE_MAX);
                }
                Err(error) => return Err(unavailable(&self.inner.name, &error)),
            }
        }
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

    /// The connected queue's stats; before it connected, an error at once (stats serve
    /// status and metrics, which must not wait for a connection).
    async fn stats(&self) -> Result<QueueStats, QueueError> {
        match self.inner.queue.get() {
            Some(queue) => queue.stats().await,
            None => Err(unavailable_because(&self.inner.name, self.not_connected())),
        }
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        self.get().await?.dead_letters(limit).await
    }
}

//! Health of a Redis queue: whether a task can be consumed now.

use std::sync::Arc;

use plba_contracts::{HealthContributor, HealthReport, async_trait};

use crate::condition::Condition;

/// Unhealthy while no task can be consumed — Redis unreachable (down, restarting, loading)
/// or the consumer group missing and not recreated yet — for as long as that lasts; ok
/// otherwise. It reports what the queue's own round trips (consumers' reads, the
/// maintenance task every few milliseconds) found, so a check never waits on Redis.
/// Made by [`RedisQueue::health_contributor`](crate::RedisQueue::health_contributor).
#[derive(Debug)]
pub struct RedisHealth {
    condition: Arc<Condition>,
}

impl RedisHealth {
    pub(crate) fn new(condition: Arc<Condition>) -> Self {
        Self { condition }
    }
}

#[async_trait]
impl HealthContributor for RedisHealth {
    async fn check(&self) -> HealthReport {
        self.condition.health()
    }
}

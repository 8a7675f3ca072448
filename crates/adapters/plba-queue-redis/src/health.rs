//! Health of the Redis connection.

use std::sync::Mutex;
use std::time::Duration;

use plba_contracts::{HealthContributor, HealthReport, async_trait};
use redis::aio::ConnectionManager;
use tokio::time::Instant;

/// Degraded while Redis does not answer, unhealthy once that has lasted `outage_limit`.
pub struct RedisHealth {
    connection: ConnectionManager,
    outage_limit: Duration,
    failing_since: Mutex<Option<Instant>>,
}

impl RedisHealth {
    /// A contributor pinging through `connection`.
    pub fn new(connection: ConnectionManager, outage_limit: Duration) -> Self {
        Self {
            connection,
            outage_limit,
            failing_since: Mutex::new(None),
        }
    }
}

#[async_trait]
impl HealthContributor for RedisHealth {
    async fn check(&self) -> HealthReport {
        let mut conn = self.connection.clone();
        let answered: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
        let mut since = self.failing_since.lock().unwrap_or_else(|e| e.into_inner());
        match answered {
            Ok(_) => {
                *since = None;
                HealthReport::ok()
            }
            Err(error) => {
                let started = *since.get_or_insert_with(Instant::now);
                let down = started.elapsed();
                if down >= self.outage_limit {
                    HealthReport::unhealthy(format!("Redis unreachable for {down:?}: {error}"))
                } else {
                    HealthReport::degraded(format!("Redis unreachable, reconnecting: {error}"))
                }
            }
        }
    }
}

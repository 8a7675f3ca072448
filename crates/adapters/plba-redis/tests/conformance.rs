//! The Redis queue runs the shared `TaskQueue` conformance suite against a real redis-server,
//! over RESP2 (the default) and over RESP3 (`?protocol=resp3`), whose replies differ in shape.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use plba_contracts::{TaskQueue, async_trait};
use plba_redis::{RedisQueue, RedisQueueOptions};
use plba_testkit::queue::{ConformanceSpec, QueueFactory};
use plba_testkit::servers::RedisServer;

struct RedisFactory {
    server: RedisServer,
    queues: AtomicUsize,
    /// Appended to the server's URL (`?protocol=resp3`, or nothing).
    query: &'static str,
}

impl RedisFactory {
    fn new() -> Self {
        Self::with_query("")
    }

    fn resp3() -> Self {
        Self::with_query("?protocol=resp3")
    }

    fn with_query(query: &'static str) -> Self {
        Self {
            server: RedisServer::start().expect("redis-server is needed for the Redis queue tests"),
            queues: AtomicUsize::new(0),
            query,
        }
    }
}

#[async_trait]
impl QueueFactory for RedisFactory {
    async fn create(&self, spec: ConformanceSpec) -> Arc<dyn TaskQueue> {
        let name = format!(
            "conformance-{}",
            self.queues.fetch_add(1, Ordering::Relaxed)
        );
        let options = RedisQueueOptions {
            url: format!("{}{}", self.server.url(), self.query),
            max_attempts: spec.max_attempts,
            ..RedisQueueOptions::default()
        };
        Arc::new(RedisQueue::connect(name, options).await.unwrap())
    }

    fn bounded(&self) -> bool {
        false
    }
}

plba_testkit::task_queue_conformance!(RedisFactory::new());

mod resp3 {
    use super::RedisFactory;

    plba_testkit::task_queue_conformance!(RedisFactory::resp3());
}

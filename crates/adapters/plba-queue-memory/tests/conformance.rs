//! The memory queue runs the shared `TaskQueue` conformance suite.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::sync::Arc;

use plba_contracts::{TaskQueue, async_trait};
use plba_queue_memory::{MemoryQueue, MemoryQueueOptions};
use plba_testkit::queue::{ConformanceSpec, QueueFactory};

struct MemoryFactory;

#[async_trait]
impl QueueFactory for MemoryFactory {
    async fn create(&self, spec: ConformanceSpec) -> Arc<dyn TaskQueue> {
        let options = MemoryQueueOptions {
            capacity: spec.capacity,
            max_attempts: spec.max_attempts,
            ..MemoryQueueOptions::default()
        };
        Arc::new(MemoryQueue::new("conformance", options).unwrap())
    }

    fn bounded(&self) -> bool {
        true
    }
}

plba_testkit::task_queue_conformance!(MemoryFactory);

//! A scheduled job that publishes a task at each occurrence.

use std::fmt;
use std::sync::Mutex;

use plba_contracts::{Occurrence, Publisher, ScheduledJob, Task, TaskError, async_trait};
use plba_util::Unpoisoned;

/// A [`ScheduledJob`] that publishes a task at each occurrence: the occurrence is then
/// handled with the queue's guarantees (at-least-once, retries, dead letters), by whichever
/// instance consumes it. Each task is published through a [`Publisher`], so its handler's
/// span continues the trace the job runs in (the runtime runs each occurrence in a span). `make` may keep state (a counter) of its own.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use plba_contracts::{Publisher, Schedule, Task};
/// use plba_workers::PublishJob;
///
/// fn sweep(publisher: Publisher) -> Schedule {
///     let mut round = 0_u64;
///     let job = PublishJob::new(publisher, move |_occurrence| {
///         round += 1;
///         Task::new("sweep", round.to_string())
///     });
///     Schedule::every("sweep", Duration::from_secs(300), Arc::new(job))
/// }
/// ```
pub struct PublishJob {
    publisher: Publisher,
    make: Mutex<Box<dyn FnMut(Occurrence) -> Task + Send>>,
}

impl PublishJob {
    /// Publishes `make(occurrence)` through `publisher` at each occurrence.
    pub fn new(
        publisher: Publisher,
        make: impl FnMut(Occurrence) -> Task + Send + 'static,
    ) -> Self {
        Self {
            publisher,
            make: Mutex::new(Box::new(make)),
        }
    }
}

impl fmt::Debug for PublishJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishJob")
            .field("queue", &self.publisher.queue().name())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ScheduledJob for PublishJob {
    async fn run(&self, occurrence: Occurrence) -> Result<(), TaskError> {
        // The lock is released before the publish waits.
        let task = (self.make.lock_or_recover())(occurrence);
        self.publisher
            .publish(task)
            .await
            .map(drop)
            .map_err(|error| {
                TaskError::transient(format!(
                    "publishing to queue {:?} failed",
                    self.publisher.queue().name()
                ))
                .with_source(error)
            })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::SystemTime;

    use plba_contracts::{Occurrence, Publisher, ScheduledJob, Task, TaskQueue};
    use plba_queue_memory::MemoryQueue;

    use super::PublishJob;

    #[tokio::test]
    async fn each_occurrence_publishes_what_a_stateful_maker_makes() {
        let queue = Arc::new(MemoryQueue::new("sweeps", Default::default()).unwrap());
        let mut round = 0_u32;
        let job = PublishJob::new(Publisher::untraced(queue.clone()), move |_| {
            round += 1;
            Task::new("sweep", round.to_string())
        });
        for _ in 0..2 {
            let occurrence = Occurrence {
                at: SystemTime::now(),
                previous: None,
            };
            job.run(occurrence).await.unwrap();
        }
        for expected in ["1", "2"] {
            let delivery = queue.consume().await.unwrap();
            assert_eq!(&delivery.task().payload[..], expected.as_bytes());
            queue.ack(delivery).await.unwrap();
        }
    }
}

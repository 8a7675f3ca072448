//! A scheduled job that publishes a task at each occurrence.

use std::fmt;
use std::sync::Arc;

use plba_contracts::{Occurrence, ScheduledJob, Task, TaskError, TaskQueue, async_trait};

/// A [`ScheduledJob`] that publishes a task at each occurrence: the occurrence is then
/// handled with the queue's guarantees (at-least-once, retries, dead letters), by whichever
/// instance consumes it.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use plba_contracts::{Schedule, Task, TaskQueue};
/// use plba_workers::PublishJob;
///
/// fn sweep(queue: Arc<dyn TaskQueue>) -> Schedule {
///     let job = PublishJob::new(queue, |_occurrence| Task::new("sweep", ""));
///     Schedule::every("sweep", Duration::from_secs(300), Arc::new(job))
/// }
/// ```
pub struct PublishJob {
    queue: Arc<dyn TaskQueue>,
    make: Box<dyn Fn(Occurrence) -> Task + Send + Sync>,
}

impl PublishJob {
    /// Publishes `make(occurrence)` to `queue` at each occurrence.
    pub fn new(
        queue: Arc<dyn TaskQueue>,
        make: impl Fn(Occurrence) -> Task + Send + Sync + 'static,
    ) -> Self {
        Self {
            queue,
            make: Box::new(make),
        }
    }
}

impl fmt::Debug for PublishJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishJob")
            .field("queue", &self.queue.name())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ScheduledJob for PublishJob {
    async fn run(&self, occurrence: Occurrence) -> Result<(), TaskError> {
        self.queue
            .publish((self.make)(occurrence))
            .await
            .map(drop)
            .map_err(|error| {
                TaskError::transient(format!(
                    "publishing to queue {:?} failed",
                    self.queue.name()
                ))
                .with_source(error)
            })
    }
}

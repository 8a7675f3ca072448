//! Publishing with the trace context attached: the one way a producer puts a task on a
//! queue, so no producer has to make the producer span by hand.

use std::fmt;
use std::sync::Arc;

use tracing::Instrument as _;

use crate::queue::{Published, QueueError, TaskQueue};
use crate::task::Task;
use crate::trace::{NoopTaskTracer, TaskTracer};

/// A queue and the tracer that links each task published on it to the trace it was
/// published in: the handler's span then continues the producer's trace, across processes
/// too. Cheap to clone; get one from
/// [`RegistryExt::publisher`](crate::RegistryExt::publisher) while registering.
///
/// ```
/// use std::sync::Arc;
/// use plba_contracts::{Publisher, Task, TaskQueue};
///
/// async fn announce(publisher: &Publisher) -> Result<(), plba_contracts::QueueError> {
///     publisher.publish(Task::new("invoice.issued", r#"{"number":42}"#)).await?;
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct Publisher {
    queue: Arc<dyn TaskQueue>,
    tracer: Arc<dyn TaskTracer>,
}

impl Publisher {
    /// Publishes to `queue`, each task in a producer span of `tracer`.
    pub fn new(queue: Arc<dyn TaskQueue>, tracer: Arc<dyn TaskTracer>) -> Self {
        Self { queue, tracer }
    }

    /// Publishes to `queue` without tracing (tests, tools).
    pub fn untraced(queue: Arc<dyn TaskQueue>) -> Self {
        Self::new(queue, NoopTaskTracer::shared())
    }

    /// The queue published to.
    pub fn queue(&self) -> &Arc<dyn TaskQueue> {
        &self.queue
    }

    /// Publishes `task` inside a producer span whose context travels in the task (see
    /// [`TaskQueue::publish`] for what the queue promises).
    pub async fn publish(&self, mut task: Task) -> Result<Published, QueueError> {
        let span = self.tracer.publish_span_to(&*self.queue, &mut task);
        self.queue.publish(task).instrument(span).await
    }
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("queue", &self.queue.name())
            .finish_non_exhaustive()
    }
}

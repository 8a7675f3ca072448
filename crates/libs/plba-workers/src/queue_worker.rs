//! QueueWorker: consume, handle, settle.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use plba_contracts::{
    Admission, Backoff, Delivery, InTaskTrace, IncomingTrace, Jitter, Limiter, MetricsSource,
    NackOutcome, NoopTaskTracer, Permit, QueueError, Registry, RegistryError, TaskError,
    TaskHandler, TaskOutcome, TaskQueue, TaskTracer, TryAck, Worker, WorkerContext, WorkerError,
    WorkerSpec, WorkerStatus, async_trait,
};
use plba_util::StatusCell;
use tracing::Instrument;

use crate::metrics::{PoolMetricsSource, QueueWorkerMetrics};

/// How long a task waits when the limiter could not answer.
const LIMITER_RETRY: Duration = Duration::from_secs(1);
/// The shortest a limited task is put aside: less would cost more round trips than it saves.
const MIN_DEFER: Duration = Duration::from_millis(20);

/// How a queue worker retries failed tasks, and how long a handler may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueWorkerOptions {
    /// Delay before a failed task is delivered again, by attempt number; full jitter by
    /// default, so tasks that failed together (a dependency was down) come back spread out.
    pub retry_backoff: Backoff,
    /// Longest a handler may run on one task (a task's own limit, `Task::with_timeout`, wins);
    /// past it the handler is cancelled and the attempt counts as a transient failure.
    /// `None`: no limit.
    pub task_timeout: Option<Duration>,
}

impl Default for QueueWorkerOptions {
    fn default() -> Self {
        Self {
            retry_backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(300)),
            task_timeout: None,
        }
    }
}

/// How one attempt at a task ended: the worker settles the delivery from it.
#[derive(Debug)]
enum AttemptEnd {
    /// The handler returned `Ok`: the task is acked.
    Succeeded,
    /// The handler returned an error: retried when transient, dead-lettered when permanent.
    Failed(TaskError),
    /// The handler panicked (the panic's message): retried, as a transient failure.
    Panicked(String),
    /// The handler ran past this time limit and was cancelled: retried, as a transient
    /// failure.
    TimedOut(Duration),
    /// A forced stop cut the attempt short: the task is released back to the queue, the
    /// attempt not charged.
    Interrupted,
}

/// One copy of a queue-consuming worker. Usually built through [`QueueWorkerPool`].
///
/// Per delivery: the handler runs with panics caught; `Ok` → ack; transient error or panic →
/// nack with `retry_backoff.delay(attempt)`, jittered (the queue dead-letters once attempts are
/// exhausted); permanent error → dead letter. On a graceful stop the copy takes no new task
/// and finishes the one in hand; on a forced stop it releases the unfinished task back to the
/// queue and returns.
#[derive(Debug)]
pub struct QueueWorker<Q: ?Sized, H: ?Sized> {
    queue: Arc<Q>,
    handler: Arc<H>,
    options: QueueWorkerOptions,
    metrics: Arc<QueueWorkerMetrics>,
    tracer: Arc<dyn TaskTracer>,
    limiter: Option<Arc<dyn Limiter>>,
    status: StatusCell,
}

impl<Q, H> QueueWorker<Q, H>
where
    Q: TaskQueue + ?Sized,
    H: TaskHandler + ?Sized,
{
    /// A copy over `queue` and `handler`, counting into `metrics`, without tracing.
    pub fn new(
        queue: Arc<Q>,
        handler: Arc<H>,
        options: QueueWorkerOptions,
        metrics: Arc<QueueWorkerMetrics>,
    ) -> Self {
        Self {
            queue,
            handler,
            options,
            metrics,
            tracer: NoopTaskTracer::shared(),
            limiter: None,
            status: StatusCell::new(WorkerStatus::Stopped),
        }
    }

    /// Same worker, starting a task with a limit key only when `limiter` admits it.
    #[must_use]
    pub fn with_limiter(mut self, limiter: Arc<dyn Limiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Asks the limiter whether the task may start: `Ok` with the permit to give back
    /// (none when the task or the pool has no limit), or `Err` with the delivery put aside.
    async fn admit(&self, delivery: Delivery) -> Result<(Delivery, Option<Permit>), ()> {
        // The key is looked up only when there is a limiter: most pools have none.
        let Some(limiter) = &self.limiter else {
            return Ok((delivery, None));
        };
        let Some(key) = delivery.task().limit_key() else {
            return Ok((delivery, None));
        };
        let wait = match limiter.acquire(key).await {
            Ok(Admission::Granted(permit)) => return Ok((delivery, Some(permit))),
            Ok(Admission::Wait(wait)) => wait,
            Err(error) => {
                // Without an answer the limit cannot be vouched for: hold the task back.
                tracing::warn!(queue = self.queue.name(), key, error = %plba_util::error_chain(&error), "limiter unavailable; the task waits");
                LIMITER_RETRY
            }
        };
        // The limiter gives tasks refused together slots of their own; a little jitter on
        // top keeps the copies of several processes from arriving in the same instant.
        let wait = wait.max(MIN_DEFER);
        let delay = wait + Jitter::Full.spread(wait / 4);
        QueueWorkerMetrics::bump(&self.metrics.deferred);
        let task_id = delivery.task().id;
        if let Err(error) = self.queue.defer(delivery, delay).await {
            QueueWorkerMetrics::bump(&self.metrics.settle_errors);
            tracing::error!(queue = self.queue.name(), %task_id, error = %plba_util::error_chain(&error), "could not put a limited task aside");
        }
        Err(())
    }

    /// Same worker, running each handler inside the span `tracer` builds from the task's
    /// trace context.
    #[must_use]
    pub fn with_tracer(mut self, tracer: Arc<dyn TaskTracer>) -> Self {
        self.tracer = tracer;
        self
    }

    /// Handles a delivery the limiter must admit first, and gives its slot back after.
    async fn process_limited(&self, delivery: Delivery, ctx: &WorkerContext) {
        let Ok((delivery, permit)) = self.admit(delivery).await else {
            return;
        };
        self.handle(delivery, ctx).await;
        if let (Some(limiter), Some(permit)) = (&self.limiter, permit)
            && let Err(error) = limiter.release(&permit).await
        {
            tracing::warn!(queue = self.queue.name(), key = permit.key(), error = %plba_util::error_chain(&error), "could not give a limit's slot back; it lapses by itself");
        }
    }

    async fn handle(&self, delivery: Delivery, ctx: &WorkerContext) {
        let metrics = &*self.metrics;
        metrics.begin();
        let (span, incoming) = self
            .tracer
            .process_scope(self.queue.name(), delivery.task());
        let started = tokio::time::Instant::now();
        let end = self.attempt(&delivery, &span, incoming, ctx).await;
        metrics.end();
        if !matches!(end, AttemptEnd::Interrupted) {
            metrics.duration.observe(started.elapsed());
        }
        let task_id = delivery.task().id;
        let attempt = delivery.task().attempt;
        let settled = match end {
            AttemptEnd::Succeeded => {
                metrics.processed.add(1);
                self.tracer.record_outcome(
                    self.queue.name(),
                    delivery.task(),
                    TaskOutcome::Succeeded,
                );
                match self.queue.try_ack(delivery) {
                    TryAck::Done(acked) => acked,
                    TryAck::WouldWait(delivery) => self.queue.ack(delivery).await,
                }
            }
            AttemptEnd::Failed(error) if !error.is_transient() => {
                QueueWorkerMetrics::bump(&metrics.failed);
                QueueWorkerMetrics::bump(&metrics.dead);
                tracing::warn!(parent: &span, queue = self.queue.name(), %task_id, attempt, error = %plba_util::error_chain(&error), "task failed permanently");
                self.tracer.record_outcome(
                    self.queue.name(),
                    delivery.task(),
                    TaskOutcome::DeadLettered {
                        reason: error.message(),
                    },
                );
                self.queue.dead_letter(delivery, error.message()).await
            }
            // The failure paths' futures are boxed: rare, and large enough to double the
            // size of every task's future (each is moved, copied, as it starts).
            AttemptEnd::Failed(error) => {
                Box::pin(self.retry_failure(delivery, &span, &error)).await
            }
            AttemptEnd::TimedOut(limit) => {
                // Running out of time says nothing about the task itself: a later attempt,
                // on a less loaded process or dependency, may finish in time.
                let error = TaskError::transient(format!(
                    "the handler ran past its time limit of {limit:?} and was cancelled"
                ));
                Box::pin(self.retry_failure(delivery, &span, &error)).await
            }
            AttemptEnd::Panicked(message) => {
                QueueWorkerMetrics::bump(&metrics.failed);
                QueueWorkerMetrics::bump(&metrics.panics);
                let reason = format!("handler panicked: {message}");
                tracing::error!(parent: &span, queue = self.queue.name(), %task_id, attempt, %reason, "task handler panicked");
                Box::pin(self.retry(delivery, &reason)).await
            }
            AttemptEnd::Interrupted => {
                QueueWorkerMetrics::bump(&metrics.released);
                tracing::warn!(parent: &span, queue = self.queue.name(), %task_id, "forced stop: releasing unfinished task");
                self.tracer.record_outcome(
                    self.queue.name(),
                    delivery.task(),
                    TaskOutcome::Released,
                );
                self.queue.release(delivery).await
            }
        };
        if let Err(error) = settled {
            // The delivery stays unsettled in the backend, which redelivers it (at-least-once).
            QueueWorkerMetrics::bump(&metrics.settle_errors);
            tracing::error!(queue = self.queue.name(), %task_id, error = %plba_util::error_chain(&error), "could not settle delivery");
        }
    }

    /// Runs the handler once on the delivery's task, with panics caught, within the task's
    /// time limit, and cut short by a forced stop.
    async fn attempt(
        &self,
        delivery: &Delivery,
        span: &tracing::Span,
        incoming: Option<IncomingTrace>,
        ctx: &WorkerContext,
    ) -> AttemptEnd {
        let limit = delivery.task().timeout().or(self.options.task_timeout);
        let handling = AssertUnwindSafe(InTaskTrace::new(
            self.handler.handle(delivery.task()),
            incoming,
        ))
        .catch_unwind()
        .instrument(span.clone());
        let limited = async {
            let caught = match limit {
                None => handling.await,
                // Past its limit the handler's future is dropped: cancelled.
                Some(limit) => match tokio::time::timeout(limit, handling).await {
                    Ok(caught) => caught,
                    Err(_elapsed) => return AttemptEnd::TimedOut(limit),
                },
            };
            match caught {
                Ok(Ok(())) => AttemptEnd::Succeeded,
                Ok(Err(error)) => AttemptEnd::Failed(error),
                Err(panic) => AttemptEnd::Panicked(plba_util::panic_message(panic.as_ref())),
            }
        };
        tokio::select! {
            biased;
            end = limited => end,
            () = ctx.force_token().cancelled() => AttemptEnd::Interrupted,
        }
    }

    /// Settles an attempt that failed in a way a retry can help: nacked with a delay.
    async fn retry_failure(
        &self,
        delivery: Delivery,
        span: &tracing::Span,
        error: &TaskError,
    ) -> Result<(), QueueError> {
        QueueWorkerMetrics::bump(&self.metrics.failed);
        let task_id = delivery.task().id;
        let attempt = delivery.task().attempt;
        tracing::warn!(parent: span, queue = self.queue.name(), %task_id, attempt, error = %plba_util::error_chain(error), "task failed, will retry");
        self.retry(delivery, &plba_util::error_chain(error)).await
    }

    async fn retry(&self, delivery: Delivery, reason: &str) -> Result<(), QueueError> {
        let delay = self.options.retry_backoff.delay(delivery.task().attempt);
        let task = delivery.task().clone();
        let outcome = self.queue.nack(delivery, Some(delay), reason).await?;
        let traced = match outcome {
            NackOutcome::Requeued => {
                QueueWorkerMetrics::bump(&self.metrics.retried);
                TaskOutcome::Retrying { reason }
            }
            NackOutcome::DeadLettered => {
                QueueWorkerMetrics::bump(&self.metrics.dead);
                TaskOutcome::DeadLettered { reason }
            }
        };
        self.tracer.record_outcome(self.queue.name(), &task, traced);
        Ok(())
    }
}

#[async_trait]
impl<Q, H> Worker for QueueWorker<Q, H>
where
    Q: TaskQueue + ?Sized,
    H: TaskHandler + ?Sized,
{
    async fn run(&self, ctx: WorkerContext) -> Result<(), WorkerError> {
        self.status.set(WorkerStatus::Idle);
        // Made once: a wait registered and dropped per task costs two locks that every
        // copy of the pool shares.
        let stopped = ctx.stop_token().cancelled();
        tokio::pin!(stopped);
        let result = loop {
            if ctx.is_stopping() {
                break Ok(());
            }
            let next = match self.queue.try_consume() {
                Some(next) => {
                    // A task taken without waiting yields no turn by itself: spend the
                    // runtime's budget, so a busy copy still lets other tasks run.
                    tokio::task::coop::consume_budget().await;
                    next
                }
                None => tokio::select! {
                    biased;
                    () = &mut stopped => break Ok(()),
                    next = self.queue.consume() => next,
                },
            };
            match next {
                Ok(delivery) => {
                    self.status.set(WorkerStatus::Busy);
                    // Most pools have no limiter. Its path is boxed, and the plain one calls
                    // `handle` directly: each level of future is copied as it starts, and
                    // the admission's would make every task's larger.
                    if self.limiter.is_some() {
                        Box::pin(self.process_limited(delivery, &ctx)).await;
                    } else {
                        self.handle(delivery, &ctx).await;
                    }
                    self.status.set(WorkerStatus::Idle);
                }
                Err(QueueError::Closed { queue }) => {
                    tracing::info!(%queue, "queue closed; worker idles until stopped");
                    ctx.stop_token().cancelled().await;
                    break Ok(());
                }
                Err(error) => {
                    break Err(WorkerError::new(format!(
                        "consuming from queue {:?} failed",
                        self.queue.name()
                    ))
                    .with_source(error));
                }
            }
        };
        // What this copy settled must reach the backend before the process may exit.
        if let Err(error) = self.queue.stop_consuming().await {
            QueueWorkerMetrics::bump(&self.metrics.settle_errors);
            tracing::warn!(queue = self.queue.name(), error = %plba_util::error_chain(&error), "could not finish consuming; unwritten settlements are delivered again");
        }
        self.status.set(WorkerStatus::Stopped);
        result
    }

    fn status(&self) -> WorkerStatus {
        self.status.get()
    }
}

/// A queue a pool can register with the runtime: any [`TaskQueue`], a concrete one or a
/// `dyn TaskQueue`.
pub trait SharedQueue: TaskQueue {
    /// The queue as the registry holds it.
    fn shared(self: Arc<Self>) -> Arc<dyn TaskQueue>;
}

impl<T: TaskQueue + 'static> SharedQueue for T {
    fn shared(self: Arc<Self>) -> Arc<dyn TaskQueue> {
        self
    }
}

impl SharedQueue for dyn TaskQueue {
    fn shared(self: Arc<Self>) -> Arc<dyn TaskQueue> {
        self
    }
}

/// A pool of [`QueueWorker`] copies over one queue and one handler, ready to register.
///
/// ```
/// use std::sync::Arc;
/// use plba_contracts::{async_trait, Task, TaskError, TaskHandler};
/// use plba_queue_memory::MemoryQueue;
/// use plba_workers::QueueWorkerPool;
///
/// struct Noop;
/// #[async_trait]
/// impl TaskHandler for Noop {
///     async fn handle(&self, _task: &Task) -> Result<(), TaskError> { Ok(()) }
/// }
///
/// let queue = Arc::new(MemoryQueue::named("jobs"));
/// let pool = QueueWorkerPool::new("jobs-workers", queue, Arc::new(Noop)).concurrency(3);
/// let metrics = pool.metrics();
/// // In a module's `register`: `pool.register(registry)?` adds the queue, the metrics and
/// // the workers, traced. Without a registry, the spec alone (untraced):
/// let spec = pool.into_spec();
/// assert_eq!(spec.copies(), 3);
/// assert_eq!(metrics.snapshot().processed, 0);
/// ```
#[derive(Debug)]
pub struct QueueWorkerPool<Q: ?Sized, H: ?Sized> {
    name: String,
    queue: Arc<Q>,
    handler: Arc<H>,
    concurrency: usize,
    options: QueueWorkerOptions,
    metrics: Arc<QueueWorkerMetrics>,
    tracer: Option<Arc<dyn TaskTracer>>,
    limiter: Option<Arc<dyn Limiter>>,
}

impl<Q, H> QueueWorkerPool<Q, H>
where
    Q: TaskQueue + ?Sized,
    H: TaskHandler + ?Sized,
{
    /// A pool of one copy with default options.
    pub fn new(name: impl Into<String>, queue: Arc<Q>, handler: Arc<H>) -> Self {
        Self {
            name: name.into(),
            queue,
            handler,
            concurrency: 1,
            options: QueueWorkerOptions::default(),
            metrics: Arc::new(QueueWorkerMetrics::default()),
            tracer: None,
            limiter: None,
        }
    }

    /// Starts a task with a limit key ([`Task::with_limit_key`](plba_contracts::Task::with_limit_key))
    /// only when `limiter` admits it; a task held back is put aside on the queue
    /// (`TaskQueue::defer`, no attempt charged) and the copy takes the next one, so a
    /// limited key does not hold up the others. Tasks without a key are not limited.
    #[must_use]
    pub fn limiter(mut self, limiter: Arc<dyn Limiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Runs handlers inside the spans of `tracer` instead of the registry's (which
    /// [`register`](Self::register) uses by default).
    #[must_use]
    pub fn tracer(mut self, tracer: Arc<dyn TaskTracer>) -> Self {
        self.tracer = Some(tracer);
        self
    }

    /// How many tasks are handled at once (copies of the worker).
    #[must_use]
    pub fn concurrency(mut self, copies: usize) -> Self {
        self.concurrency = copies;
        self
    }

    /// Retry options.
    #[must_use]
    pub fn options(mut self, options: QueueWorkerOptions) -> Self {
        self.options = options;
        self
    }

    /// The pool's counters (keep a clone before [`into_spec`](Self::into_spec)).
    pub fn metrics(&self) -> Arc<QueueWorkerMetrics> {
        Arc::clone(&self.metrics)
    }

    /// The pool's counters as a `/metrics` source, labelled with the queue and pool names.
    pub fn metrics_source(&self) -> Arc<dyn MetricsSource> {
        Arc::new(PoolMetricsSource {
            queue: self.queue.name().to_owned(),
            worker: self.name.clone(),
            metrics: Arc::clone(&self.metrics),
        })
    }

    /// Registers the pool with `registry`: its queue (so the queue's stats show in the
    /// status; registering the same queue again is no error), its metrics and its worker
    /// spec, its handlers traced with the registry's tracer unless [`tracer`](Self::tracer)
    /// named another. Returns its counters.
    pub fn register(
        mut self,
        registry: &mut dyn Registry,
    ) -> Result<Arc<QueueWorkerMetrics>, RegistryError>
    where
        Q: SharedQueue,
    {
        let metrics = self.metrics();
        if self.tracer.is_none() {
            self.tracer = Some(registry.tracer());
        }
        registry.add_queue(Arc::clone(&self.queue).shared())?;
        registry.add_metrics_source(self.metrics_source())?;
        registry.add_worker(self.into_spec())?;
        Ok(metrics)
    }

    /// The spec to hand to `Registry::add_worker` (untraced unless [`tracer`](Self::tracer)
    /// named a tracer; [`register`](Self::register) does everything).
    pub fn into_spec(self) -> WorkerSpec {
        let Self {
            name,
            queue,
            handler,
            concurrency,
            options,
            metrics,
            tracer,
            limiter,
        } = self;
        WorkerSpec::pool(name, concurrency, move |_copy| {
            let worker = QueueWorker::new(
                Arc::clone(&queue),
                Arc::clone(&handler),
                options,
                Arc::clone(&metrics),
            )
            .with_tracer(tracer.clone().unwrap_or_else(NoopTaskTracer::shared));
            match &limiter {
                Some(limiter) => worker.with_limiter(Arc::clone(limiter)),
                None => worker,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use plba_contracts::CancellationToken;
    use plba_contracts::{Task, TaskError};
    use plba_queue_memory::{MemoryQueue, MemoryQueueOptions};
    use plba_testkit::wait::{eventually, eventually_async, within};

    use super::*;

    /// Fails in a scripted way per attempt, then succeeds.
    struct Scripted {
        calls: AtomicU32,
        script: fn(u32) -> Result<(), TaskError>,
    }

    #[async_trait]
    impl TaskHandler for Scripted {
        async fn handle(&self, task: &Task) -> Result<(), TaskError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            (self.script)(task.attempt)
        }
    }

    fn fast_retries() -> QueueWorkerOptions {
        QueueWorkerOptions {
            retry_backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(5)),
            task_timeout: None,
        }
    }

    /// Runs one worker copy over a fresh queue holding one task, handled by `script`
    /// (given the attempt number).
    async fn run_one(
        script: fn(u32) -> Result<(), TaskError>,
        max_attempts: u32,
    ) -> (
        Arc<MemoryQueue>,
        Arc<QueueWorkerMetrics>,
        Arc<Scripted>,
        CancellationToken,
    ) {
        let queue = Arc::new(
            MemoryQueue::new(
                "q",
                MemoryQueueOptions {
                    max_attempts,
                    ..MemoryQueueOptions::default()
                },
            )
            .unwrap(),
        );
        let handler = Arc::new(Scripted {
            calls: AtomicU32::new(0),
            script,
        });
        let metrics = Arc::new(QueueWorkerMetrics::default());
        let worker = QueueWorker::new(
            Arc::clone(&queue),
            Arc::clone(&handler),
            fast_retries(),
            Arc::clone(&metrics),
        );
        let stop = CancellationToken::new();
        let ctx = WorkerContext::new(0, stop.clone(), CancellationToken::new());
        tokio::spawn(async move { worker.run(ctx).await });
        queue.publish(Task::new("t", "x")).await.unwrap();
        (queue, metrics, handler, stop)
    }

    /// Never finishes: only a time limit ends it.
    struct Hangs;

    #[async_trait]
    impl TaskHandler for Hangs {
        async fn handle(&self, _task: &Task) -> Result<(), TaskError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_handler_past_its_time_limit_is_cancelled_and_the_attempt_fails() {
        let queue = Arc::new(
            MemoryQueue::new(
                "q",
                MemoryQueueOptions {
                    max_attempts: 2,
                    ..MemoryQueueOptions::default()
                },
            )
            .unwrap(),
        );
        let metrics = Arc::new(QueueWorkerMetrics::default());
        let options = QueueWorkerOptions {
            task_timeout: Some(Duration::from_secs(3600)),
            ..fast_retries()
        };
        let worker = QueueWorker::new(
            Arc::clone(&queue),
            Arc::new(Hangs),
            options,
            Arc::clone(&metrics),
        );
        let stop = CancellationToken::new();
        let ctx = WorkerContext::new(0, stop.clone(), CancellationToken::new());
        tokio::spawn(async move { worker.run(ctx).await });
        // The task's own limit wins over the pool's hour.
        let task = Task::new("t", "x").with_timeout(Duration::from_millis(20));
        queue.publish(task).await.unwrap();
        eventually_async(Duration::from_secs(10), "the task dead-lettered", || {
            let queue = Arc::clone(&queue);
            async move { queue.stats().await.unwrap().dead == 1 }
        })
        .await;
        let letters = queue.dead_letters(1).await.unwrap();
        assert!(
            letters[0].reason.contains("time limit of 20ms"),
            "{}",
            letters[0].reason
        );
        assert_eq!(metrics.snapshot().failed, 2, "both attempts timed out");
        stop.cancel();
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let (queue, metrics, handler, stop) = run_one(
            |attempt| {
                if attempt < 3 {
                    Err(TaskError::transient("not yet"))
                } else {
                    Ok(())
                }
            },
            5,
        )
        .await;
        eventually(Duration::from_secs(10), "task processed", || {
            metrics.snapshot().processed == 1
        })
        .await;
        stop.cancel();
        assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
        let snap = metrics.snapshot();
        assert_eq!((snap.failed, snap.retried, snap.dead), (2, 2, 0));
        assert_eq!(queue.stats().await.unwrap().acked, 1);
    }

    #[tokio::test]
    async fn permanent_errors_dead_letter_without_retry() {
        let (queue, metrics, handler, stop) =
            run_one(|_| Err(TaskError::permanent("unknown customer")), 5).await;
        eventually(Duration::from_secs(10), "task dead", || {
            metrics.snapshot().dead == 1
        })
        .await;
        stop.cancel();
        assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
        let letters = queue.dead_letters(1).await.unwrap();
        assert_eq!(letters[0].reason, "unknown customer");
    }

    #[tokio::test]
    async fn a_panicking_handler_is_retried_and_the_task_survives() {
        let (queue, metrics, handler, stop) = run_one(
            |attempt| {
                assert!(attempt > 1, "first attempt panics");
                Ok(())
            },
            5,
        )
        .await;
        eventually(Duration::from_secs(10), "task processed", || {
            metrics.snapshot().processed == 1
        })
        .await;
        stop.cancel();
        assert_eq!(handler.calls.load(Ordering::SeqCst), 2);
        assert_eq!(metrics.snapshot().panics, 1);
        assert_eq!(queue.stats().await.unwrap().acked, 1);
    }

    #[tokio::test]
    async fn attempts_exhausted_go_to_dead_letter() {
        let (queue, metrics, handler, stop) =
            run_one(|_| Err(TaskError::transient("always down")), 3).await;
        eventually(Duration::from_secs(10), "task dead", || {
            metrics.snapshot().dead == 1
        })
        .await;
        stop.cancel();
        assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
        let letters = within(
            Duration::from_secs(1),
            "dead letters",
            queue.dead_letters(1),
        )
        .await
        .unwrap();
        assert!(
            letters[0].reason.contains("always down"),
            "{}",
            letters[0].reason
        );
    }
}

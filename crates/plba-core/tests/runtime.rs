//! The runtime with real workers over a real memory queue: stop, force, restart, supervise.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use plba_contracts::Jitter;
use plba_util::Unpoisoned;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plba_contracts::{
    Backoff, HealthContributor, HealthOptions, HealthReport, HealthState, RegistryError,
    RestartPolicy, Task, TaskError, TaskHandler, TaskQueue, Worker, WorkerContext, WorkerError,
    WorkerSpec, WorkerStatus, async_trait,
};
use plba_core::{CoreError, RuntimeManager, RuntimeOptions, RuntimeState};
use plba_queue_memory::{MemoryQueue, MemoryQueueOptions};
use plba_testkit::handlers::{CountingHandler, GateHandler, HangingHandler};
use plba_testkit::module::FnModule;
use plba_testkit::wait::{eventually, eventually_async, within};
use plba_util::StatusCell;
use plba_workers::{QueueWorkerMetrics, QueueWorkerOptions, QueueWorkerPool};

const DEADLINE: Duration = Duration::from_secs(20);

fn fast_retries() -> QueueWorkerOptions {
    QueueWorkerOptions {
        retry_backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(10)),
        task_timeout: None,
    }
}

/// A runtime with one memory queue and a 3-copy QueueWorker pool over `handler`.
async fn runtime_with<H: TaskHandler>(
    handler: Arc<H>,
    options: RuntimeOptions,
) -> (RuntimeManager, Arc<MemoryQueue>, Arc<QueueWorkerMetrics>) {
    let queue = Arc::new(MemoryQueue::new("jobs", MemoryQueueOptions::default()).unwrap());
    let pool = QueueWorkerPool::new("jobs-workers", Arc::clone(&queue), handler)
        .concurrency(3)
        .options(fast_retries());
    let metrics = pool.metrics();
    let spec = Mutex::new(Some(pool.into_spec()));
    let module_queue = Arc::clone(&queue);
    let module = FnModule::new("jobs", move |registry| {
        registry.add_queue(module_queue.clone())?;
        if let Some(spec) = spec.lock_or_recover().take() {
            registry.add_worker(spec)?;
        }
        Ok(())
    });
    let runtime = RuntimeManager::new(options);
    runtime.register(&module).await.unwrap();
    (runtime, queue, metrics)
}

async fn publish(queue: &MemoryQueue, n: usize) -> Vec<plba_contracts::TaskId> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let task = Task::new("job", format!("{i}"));
        ids.push(task.id);
        queue.publish(task).await.unwrap();
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_published_task_is_handled_exactly_once() {
    let handler = Arc::new(CountingHandler::new());
    let (runtime, queue, _) = runtime_with(Arc::clone(&handler), RuntimeOptions::default()).await;
    runtime.start().await.unwrap();
    let ids = publish(&queue, 1_000).await;
    eventually_async(DEADLINE, "all tasks acked", || async {
        queue.stats().await.unwrap().acked == 1_000
    })
    .await;
    let report = within(DEADLINE, "stop", runtime.stop()).await;
    assert!(report.graceful);
    assert_eq!(handler.distinct(), 1_000);
    assert!(
        handler.duplicates().is_empty(),
        "handled twice: {:?}",
        handler.duplicates()
    );
    assert!(ids.iter().all(|&id| handler.count(id) == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_drains_in_flight_tasks_and_takes_no_new_ones() {
    let handler = Arc::new(GateHandler::new());
    let (runtime, queue, metrics) =
        runtime_with(Arc::clone(&handler), RuntimeOptions::default()).await;
    runtime.start().await.unwrap();
    publish(&queue, 5).await;
    eventually(DEADLINE, "three tasks in flight", || handler.started() == 3).await;

    let stopping = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.stop().await }
    });
    let mut state = runtime.subscribe_state();
    plba_testkit::wait::reach(
        &mut state,
        RuntimeState::Stopping,
        DEADLINE,
        "state stopping",
    )
    .await;
    assert!(!runtime.readiness().await.ok, "not ready while stopping");
    let pool = &runtime.status().await.workers[0];
    assert!(
        pool.copies
            .iter()
            .all(|c| c.status == WorkerStatus::Stopping),
        "copies finishing their task report stopping: {pool:?}"
    );
    assert!(
        !stopping.is_finished(),
        "stop returned while handlers were still running"
    );

    handler.open();
    let report = within(DEADLINE, "graceful stop", stopping).await.unwrap();
    assert!(report.graceful, "{report:?}");
    assert_eq!(handler.finished(), 3, "in-flight tasks completed");
    assert_eq!(
        handler.started(),
        3,
        "no new task taken after the stop request"
    );
    let stats = queue.stats().await.unwrap();
    assert_eq!(
        (stats.acked, stats.depth, stats.in_flight),
        (3, 2, 0),
        "{stats:?}"
    );
    assert_eq!(metrics.snapshot().processed, 3);
    assert_eq!(runtime.state(), RuntimeState::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_stop_after_the_timeout_ends_a_handler_that_never_returns() {
    let handler = Arc::new(HangingHandler::default());
    let options = RuntimeOptions {
        stop_timeout: Duration::from_millis(200),
        force_grace: Duration::from_secs(5),
        ..RuntimeOptions::default()
    };
    let (runtime, queue, metrics) = runtime_with(Arc::clone(&handler), options).await;
    runtime.start().await.unwrap();
    let ids = publish(&queue, 1).await;
    eventually(DEADLINE, "task in flight", || handler.started() == 1).await;

    let report = within(DEADLINE, "forced stop", runtime.stop()).await;
    assert!(!report.graceful);
    assert_eq!(
        report.forced_copies, 1,
        "only the copy holding the hung task is forced"
    );
    assert!(
        report.took >= Duration::from_millis(200),
        "forced before the timeout: {report:?}"
    );
    // The unfinished task went back to the queue, attempt not charged: nothing lost.
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.depth, stats.in_flight), (1, 0), "{stats:?}");
    assert_eq!(metrics.snapshot().released, 1);
    let delivery = queue.consume().await.unwrap();
    assert_eq!(delivery.task().id, ids[0]);
    assert_eq!(delivery.task().attempt, 1);
}

struct PanicsOnFirstAttempt {
    calls: AtomicUsize,
}

#[async_trait]
impl TaskHandler for PanicsOnFirstAttempt {
    async fn handle(&self, task: &Task) -> Result<(), TaskError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if task.attempt == 1 {
            panic!("handler bug on task {}", task.id);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_neither_kills_the_runtime_nor_loses_its_task() {
    let handler = Arc::new(PanicsOnFirstAttempt {
        calls: AtomicUsize::new(0),
    });
    let (runtime, queue, metrics) =
        runtime_with(Arc::clone(&handler), RuntimeOptions::default()).await;
    runtime.start().await.unwrap();
    publish(&queue, 10).await;
    eventually(DEADLINE, "all tasks processed", || {
        metrics.snapshot().processed == 10
    })
    .await;
    let snapshot = metrics.snapshot();
    assert_eq!(snapshot.panics, 10);
    assert_eq!(handler.calls.load(Ordering::SeqCst), 20);
    assert_eq!(runtime.state(), RuntimeState::Running);
    assert!(runtime.readiness().await.ok);
    let status = runtime.status().await;
    assert!(
        status.workers[0].copies.iter().all(|c| c.restarts == 0),
        "a task panic is not a worker crash"
    );
    assert_eq!(queue.stats().await.unwrap().acked, 10);
    assert!(runtime.stop().await.graceful);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_again_after_stop_processes_new_work() {
    let handler = Arc::new(CountingHandler::new());
    let (runtime, queue, _) = runtime_with(Arc::clone(&handler), RuntimeOptions::default()).await;
    runtime.start().await.unwrap();
    publish(&queue, 10).await;
    eventually(DEADLINE, "first batch", || handler.total() == 10).await;
    assert!(runtime.stop().await.graceful);
    assert!(
        runtime.status().await.workers[0]
            .copies
            .iter()
            .all(|c| c.status == WorkerStatus::Stopped)
    );

    publish(&queue, 10).await;
    assert_eq!(
        queue.stats().await.unwrap().depth,
        10,
        "nothing consumed while stopped"
    );
    runtime.start().await.unwrap();
    eventually(DEADLINE, "second batch", || handler.total() == 20).await;
    assert_eq!(handler.distinct(), 20);
    assert!(runtime.stop().await.graceful);
}

/// Fails every run at once, recording when each run started.
struct AlwaysFails {
    runs: Arc<Mutex<Vec<tokio::time::Instant>>>,
    status: StatusCell,
}

#[async_trait]
impl Worker for AlwaysFails {
    async fn run(&self, _ctx: WorkerContext) -> Result<(), WorkerError> {
        self.runs
            .lock_or_recover()
            .push(tokio::time::Instant::now());
        Err(WorkerError::new("connection refused"))
    }

    fn status(&self) -> WorkerStatus {
        self.status.get()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_restarts_with_backoff_and_turns_unhealthy_past_the_budget() {
    let runs = Arc::new(Mutex::new(Vec::new()));
    let policy = RestartPolicy {
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(160))
            .with_jitter(Jitter::Equal),
        max_restarts: 3,
        window: Duration::from_secs(60),
    };
    let worker_runs = Arc::clone(&runs);
    let module = FnModule::new("flaky", move |registry| {
        let runs = Arc::clone(&worker_runs);
        registry.add_worker(
            WorkerSpec::pool("poller", 1, move |_| AlwaysFails {
                runs: Arc::clone(&runs),
                status: StatusCell::default(),
            })
            .with_restart_policy(policy),
        )
    });
    let runtime = RuntimeManager::new(RuntimeOptions::default());
    runtime.register(&module).await.unwrap();
    runtime.start().await.unwrap();

    eventually(DEADLINE, "five runs", || runs.lock_or_recover().len() >= 5).await;
    eventually_async(DEADLINE, "unhealthy past the budget", || async {
        runtime.health().await.state == HealthState::Unhealthy
    })
    .await;
    let health = runtime.health().await;
    let pool = health
        .contributors
        .iter()
        .find(|c| c.name == "worker:poller")
        .unwrap();
    let reason = pool.reason.as_deref().unwrap();
    assert!(
        reason.contains("budget 3") && reason.contains("connection refused"),
        "{reason}"
    );
    let readiness = runtime.readiness().await;
    assert!(
        !readiness.ok,
        "a critical unhealthy pool makes the runtime not ready"
    );

    let runs = runs.lock_or_recover().clone();
    for (i, pair) in runs.windows(2).take(4).enumerate() {
        let gap = pair[1] - pair[0];
        // Equal jitter: never less than half the exponential delay.
        let expected = policy.backoff.delay_at(u32::try_from(i).unwrap() + 1, 0.0);
        assert!(
            gap >= expected,
            "restart {} came after {gap:?}, backoff is {expected:?}",
            i + 1
        );
    }
    let status = runtime.status().await;
    let copy = &status.workers[0].copies[0];
    assert!(copy.restarts >= 4);
    assert_eq!(copy.last_error.as_deref(), Some("connection refused"));
    assert!(within(DEADLINE, "stop", runtime.stop()).await.graceful);
}

/// Panics in `run` the first time, then runs until stopped.
struct PanicsOnce {
    runs: Arc<AtomicUsize>,
    status: StatusCell,
}

#[async_trait]
impl Worker for PanicsOnce {
    async fn run(&self, ctx: WorkerContext) -> Result<(), WorkerError> {
        if self.runs.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("worker bug");
        }
        self.status.set(WorkerStatus::Idle);
        ctx.stop_token().cancelled().await;
        self.status.set(WorkerStatus::Stopped);
        Ok(())
    }

    fn status(&self) -> WorkerStatus {
        self.status.get()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_panics_is_restarted() {
    let runs = Arc::new(AtomicUsize::new(0));
    let worker = Arc::new(PanicsOnce {
        runs: Arc::clone(&runs),
        status: StatusCell::default(),
    });
    let module = FnModule::new("m", move |registry| {
        registry.add_worker(WorkerSpec::single("w", worker.clone()))
    });
    let runtime = RuntimeManager::new(RuntimeOptions::default());
    runtime.register(&module).await.unwrap();
    runtime.start().await.unwrap();
    eventually(DEADLINE, "restarted and idle", || {
        runs.load(Ordering::SeqCst) == 2
    })
    .await;
    eventually_async(DEADLINE, "idle after restart", || async {
        runtime.status().await.workers[0].status == WorkerStatus::Idle
    })
    .await;
    let status = runtime.status().await;
    assert_eq!(status.workers[0].copies[0].restarts, 1);
    assert_eq!(
        status.workers[0].copies[0].last_error.as_deref(),
        Some("panicked: worker bug")
    );
    assert_eq!(
        runtime.health().await.state,
        HealthState::Ok,
        "one restart is within budget"
    );
    assert!(runtime.stop().await.graceful);
}

struct Fixed(HealthReport);

#[async_trait]
impl HealthContributor for Fixed {
    async fn check(&self) -> HealthReport {
        self.0.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_lifecycle_and_critical_health() {
    let database = Arc::new(Mutex::new(HealthReport::ok()));
    struct Shared(Arc<Mutex<HealthReport>>);
    #[async_trait]
    impl HealthContributor for Shared {
        async fn check(&self) -> HealthReport {
            self.0.lock_or_recover().clone()
        }
    }
    let contributor = Arc::new(Shared(Arc::clone(&database)));
    let module = FnModule::new("m", move |registry| {
        registry.add_health_contributor(
            "database",
            contributor.clone(),
            HealthOptions::critical(),
        )?;
        registry.add_health_contributor(
            "cache",
            Arc::new(Fixed(HealthReport::unhealthy("evicted"))),
            HealthOptions::non_critical(),
        )
    });
    let runtime = RuntimeManager::new(RuntimeOptions::default());
    runtime.register(&module).await.unwrap();
    assert!(!runtime.readiness().await.ok, "not ready before start");
    assert!(runtime.liveness().await.ok);
    runtime.start().await.unwrap();
    let ready = runtime.readiness().await;
    assert!(ready.ok);
    assert_eq!(
        ready.state,
        HealthState::Degraded,
        "non-critical unhealthy degrades only"
    );
    *database.lock_or_recover() = HealthReport::unhealthy("connection refused");
    let ready = runtime.readiness().await;
    assert!(!ready.ok);
    assert_eq!(
        ready.reason.as_deref(),
        Some("database: connection refused")
    );
    *database.lock_or_recover() = HealthReport::ok();
    assert!(runtime.readiness().await.ok, "back to ready");
    runtime.stop().await;
    assert!(!runtime.readiness().await.ok, "not ready when stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_module_registers_nothing_and_duplicates_are_refused() {
    let runtime = RuntimeManager::new(RuntimeOptions::default());
    let first = FnModule::new("first", |registry| {
        registry.add_worker(WorkerSpec::pool("w", 1, |_| Idle::default()))
    });
    runtime.register(&first).await.unwrap();

    let broken = FnModule::new("broken", |registry| {
        registry.add_worker(WorkerSpec::pool("other", 1, |_| Idle::default()))?;
        Err(RegistryError::module(
            "broken",
            "its store",
            std::io::Error::other("store unavailable"),
        ))
    });
    let err = runtime.register(&broken).await.unwrap_err();
    assert!(matches!(err, CoreError::Register { .. }), "{err}");
    assert!(
        runtime
            .status()
            .await
            .workers
            .iter()
            .all(|p| p.name != "other"),
        "nothing of a failed module is kept"
    );

    let clash = FnModule::new("clash", |registry| {
        registry.add_worker(WorkerSpec::pool("w", 1, |_| Idle::default()))
    });
    let err = plba_util::error_chain(&runtime.register(&clash).await.unwrap_err());
    assert!(err.contains("worker \"w\" is already registered"), "{err}");

    let zero = FnModule::new("zero", |registry| {
        registry.add_worker(WorkerSpec::pool("none", 0, |_| Idle::default()))
    });
    assert!(runtime.register(&zero).await.is_err());
    assert_eq!(runtime.modules(), vec!["first".to_owned()]);

    runtime.start().await.unwrap();
    let err = runtime.register(&clash).await.unwrap_err();
    assert!(matches!(err, CoreError::InvalidState { .. }), "{err}");
    assert!(runtime.start().await.is_err(), "double start refused");
    runtime.stop().await;
}

#[derive(Default)]
struct Idle(StatusCell);

#[async_trait]
impl Worker for Idle {
    async fn run(&self, ctx: WorkerContext) -> Result<(), WorkerError> {
        self.0.set(WorkerStatus::Idle);
        ctx.stop_token().cancelled().await;
        self.0.set(WorkerStatus::Stopped);
        Ok(())
    }

    fn status(&self) -> WorkerStatus {
        self.0.get()
    }
}

#[tokio::test]
async fn a_module_cannot_take_over_a_worker_pools_health_check() {
    let module = FnModule::new("m", move |registry| {
        registry.add_worker(WorkerSpec::single(
            "w",
            Arc::new(PanicsOnce {
                runs: Arc::new(AtomicUsize::new(0)),
                status: StatusCell::default(),
            }),
        ))?;
        registry.add_health_contributor(
            "worker:w",
            Arc::new(Fixed(HealthReport::ok())),
            plba_contracts::HealthOptions::critical(),
        )
    });
    let runtime = RuntimeManager::new(RuntimeOptions::default());
    let error = plba_util::error_chain(&runtime.register(&module).await.unwrap_err());
    assert!(
        error.contains("\"worker:w\"") && error.contains("the runtime's own checks"),
        "{error}"
    );
    assert!(
        runtime.modules().is_empty(),
        "nothing of the module was kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_queue_registered_twice_is_one_queue_and_another_of_its_name_a_clash() {
    let runtime = RuntimeManager::new(RuntimeOptions::default());
    let queue = Arc::new(MemoryQueue::named("jobs"));
    let shared = Arc::clone(&queue);
    let first = FnModule::new("first", move |registry| {
        registry.add_queue(shared.clone())?;
        registry.add_queue(shared.clone())
    });
    runtime.register(&first).await.unwrap();
    let again = Arc::clone(&queue);
    let second = FnModule::new("second", move |registry| registry.add_queue(again.clone()));
    runtime.register(&second).await.unwrap();
    assert_eq!(runtime.status().await.queues.len(), 1);

    let other = FnModule::new("other", |registry| {
        registry.add_queue(Arc::new(MemoryQueue::named("jobs")))
    });
    let err = plba_util::error_chain(&runtime.register(&other).await.unwrap_err());
    assert!(
        err.contains("queue \"jobs\" is already registered"),
        "{err}"
    );
}

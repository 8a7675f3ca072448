//! SIGTERM asks for a graceful stop; a second SIGTERM forces it. In a test binary of its own,
//! because the signal goes to the whole process.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::sync::Arc;
use std::time::Duration;

use plba_contracts::{Task, TaskQueue};
use plba_core::{RuntimeManager, RuntimeOptions, RuntimeState};
use plba_queue_memory::{MemoryQueue, MemoryQueueOptions};
use plba_testkit::handlers::HangingHandler;
use plba_testkit::module::FnModule;
use plba_testkit::wait::{eventually, within};
use plba_workers::QueueWorkerPool;

const DEADLINE: Duration = Duration::from_secs(20);

fn send_sigterm() {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

type Running = tokio::task::JoinHandle<Result<plba_core::StopReport, plba_core::CoreError>>;

/// A runtime with one QueueWorker over `queue` and `handler`, running `run_until_shutdown`
/// (stop timeout: ten minutes, so only a force ends a stuck stop early).
async fn launch(
    queue: &Arc<MemoryQueue>,
    handler: &Arc<HangingHandler>,
) -> (
    RuntimeManager,
    Running,
    tokio::sync::watch::Receiver<RuntimeState>,
) {
    let spec = QueueWorkerPool::new("workers", Arc::clone(queue), Arc::clone(handler)).into_spec();
    let module = FnModule::new("m", move |registry| registry.add_worker(spec.clone()));
    let runtime = RuntimeManager::new(RuntimeOptions {
        stop_timeout: Duration::from_secs(600),
        ..RuntimeOptions::default()
    });
    runtime.register(&module).await.unwrap();
    let mut state = runtime.subscribe_state();
    let running = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.run_until_shutdown().await }
    });
    plba_testkit::wait::reach(&mut state, RuntimeState::Running, DEADLINE, "running").await;
    (runtime, running, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_request_then_signals_stop_gracefully_then_by_force() {
    let queue = Arc::new(MemoryQueue::new("jobs", MemoryQueueOptions::default()).unwrap());
    let handler = Arc::new(HangingHandler::default());

    // 1. A shutdown request (the control plane's action) stops gracefully: nothing in flight.
    let (runtime, running, _state) = launch(&queue, &handler).await;
    runtime.request_shutdown();
    let report = within(DEADLINE, "shutdown", running)
        .await
        .unwrap()
        .unwrap();
    assert!(report.graceful);

    // 2. With a task that never finishes, SIGTERM starts a graceful stop that waits for it;
    //    a second SIGTERM forces it at once.
    let (_runtime, running, mut state) = launch(&queue, &handler).await;
    queue.publish(Task::new("job", "x")).await.unwrap();
    eventually(DEADLINE, "task in flight", || handler.started() == 1).await;

    send_sigterm();
    plba_testkit::wait::reach(&mut state, RuntimeState::Stopping, DEADLINE, "stopping").await;
    assert!(
        !running.is_finished(),
        "the graceful stop waits for the task in flight"
    );
    send_sigterm();
    let report = within(DEADLINE, "forced by the second signal", running)
        .await
        .unwrap()
        .unwrap();
    assert!(!report.graceful);
    assert_eq!(report.forced_copies, 1);
    assert_eq!(
        queue.stats().await.unwrap().depth,
        1,
        "the unfinished task was given back"
    );
}

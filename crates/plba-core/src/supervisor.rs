//! WorkerSupervisor: runs pools of worker copies and restarts them when they fail.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::FutureExt;
use plba_contracts::{
    CancellationToken, HealthContributor, HealthReport, HealthState, Worker, WorkerContext,
    WorkerSpec, WorkerStatus, async_trait,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::status::{CopyStatus, PoolStatus, activity_rank};
use crate::sync::{lock, read, write};

/// Runs worker pools: N copies per [`WorkerSpec`], each restarted on error, early return or
/// panic with exponential backoff; a copy that exceeds its restart budget makes the pool
/// unhealthy until its window clears.
///
/// Internally synchronised: status can be read while a stop is in progress.
#[derive(Default)]
pub(crate) struct WorkerSupervisor {
    pools: RwLock<Vec<Arc<Pool>>>,
    running: Mutex<Option<Running>>,
    force: Mutex<Option<CancellationToken>>,
}

struct Running {
    stop: CancellationToken,
    force: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

pub(crate) struct Pool {
    spec: WorkerSpec,
    copies: Vec<Arc<Slot>>,
    /// Set while a stop is in progress, so copies still finishing report `Stopping`.
    stopping: AtomicBool,
}

/// One copy's supervision state, kept across restarts and runtime restarts.
#[derive(Default)]
struct Slot {
    /// Whether the copy's supervision task is alive.
    running: AtomicBool,
    worker: Mutex<Option<Arc<dyn Worker>>>,
    restarts: Mutex<RestartLog>,
    backing_off: AtomicBool,
}

#[derive(Default)]
struct RestartLog {
    recent: VecDeque<Instant>,
    total: u64,
    last_error: Option<String>,
}

impl WorkerSupervisor {
    /// A supervisor with no pools.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds a pool; it starts with the next [`start`](Self::start). Returns its health
    /// contributor for the caller to register.
    pub(crate) fn add_pool(&self, spec: WorkerSpec) -> Arc<dyn HealthContributor> {
        let copies = (0..spec.copies())
            .map(|_| Arc::new(Slot::default()))
            .collect();
        let pool = Arc::new(Pool {
            spec,
            copies,
            stopping: AtomicBool::new(false),
        });
        write(&self.pools).push(Arc::clone(&pool));
        Arc::new(PoolHealth(pool))
    }

    /// The pools' names, in registration order.
    pub(crate) fn pool_names(&self) -> Vec<String> {
        read(&self.pools)
            .iter()
            .map(|p| p.spec.name().to_owned())
            .collect()
    }

    /// Whether copies are running (between `start` and the end of `stop`).
    pub(crate) fn is_running(&self) -> bool {
        lock(&self.force).is_some()
    }

    /// Spawns every copy of every pool on the current tokio runtime. Does nothing if running.
    pub(crate) fn start(&self) {
        let mut running = lock(&self.running);
        if running.is_some() || self.is_running() {
            return;
        }
        let stop = CancellationToken::new();
        let force = CancellationToken::new();
        let mut tasks = Vec::new();
        let pools = read(&self.pools).clone();
        for pool in &pools {
            pool.stopping.store(false, Ordering::Relaxed);
            for (copy, slot) in pool.copies.iter().enumerate() {
                slot.running.store(true, Ordering::Relaxed);
                let supervised = supervise(
                    Arc::clone(pool),
                    Arc::clone(slot),
                    copy,
                    stop.clone(),
                    force.clone(),
                );
                tasks.push(tokio::spawn(supervised));
            }
        }
        tracing::info!(pools = pools.len(), copies = tasks.len(), "workers started");
        *lock(&self.force) = Some(force.clone());
        *running = Some(Running { stop, force, tasks });
    }

    /// Asks every copy to stop taking work, without waiting: running copies report
    /// `Stopping` from now on. [`stop`](Self::stop) does this too; calling it first lets the
    /// caller publish its own "stopping" state only once no copy can take new work.
    pub(crate) fn request_stop(&self) {
        for pool in read(&self.pools).iter() {
            pool.stopping.store(true, Ordering::Relaxed);
        }
        if let Some(running) = lock(&self.running).as_ref() {
            running.stop.cancel();
        }
    }

    /// Turns a stop in progress (or the next one) into a forced stop at once.
    pub(crate) fn force(&self) {
        if let Some(force) = lock(&self.force).as_ref() {
            force.cancel();
        }
    }

    /// Stops every copy: asks them to stop and waits up to `timeout`; then forces (copies give
    /// back their work and return) and, after `grace`, aborts what still runs. Returns how many
    /// copies had to be forced.
    pub(crate) async fn stop(&self, timeout: Duration, grace: Duration) -> usize {
        self.request_stop();
        let Some(running) = lock(&self.running).take() else {
            return 0;
        };
        let pools = read(&self.pools).clone();
        let forced = Self::stop_running(running, timeout, grace).await;
        for pool in &pools {
            for slot in &pool.copies {
                // Aborted copies never reached the end of `supervise`.
                slot.backing_off.store(false, Ordering::Relaxed);
                slot.running.store(false, Ordering::Relaxed);
            }
        }
        *lock(&self.force) = None;
        forced
    }

    async fn stop_running(running: Running, timeout: Duration, grace: Duration) -> usize {
        let Running { stop, force, tasks } = running;
        stop.cancel();
        let mut tasks = tasks;
        let deadline = Instant::now() + timeout;
        let graceful = tokio::select! {
            () = wait_all(&mut tasks) => true,
            () = tokio::time::sleep_until(deadline) => false,
            () = force.cancelled() => false,
        };
        if graceful {
            return 0;
        }
        let forced = tasks.iter().filter(|t| !t.is_finished()).count();
        tracing::warn!(forced, "graceful stop did not finish in time; forcing");
        force.cancel();
        if tokio::time::timeout(grace, wait_all(&mut tasks))
            .await
            .is_err()
        {
            let stuck = tasks.iter().filter(|t| !t.is_finished()).count();
            tracing::error!(stuck, "workers ignored the forced stop; aborting them");
            for task in &tasks {
                task.abort();
            }
            wait_all(&mut tasks).await;
        }
        forced
    }

    /// Status of every pool and copy.
    pub(crate) fn status(&self) -> Vec<PoolStatus> {
        read(&self.pools).iter().map(|pool| pool.status()).collect()
    }
}

/// Waits for every handle (in order; all must finish anyway). Handles already awaited are
/// removed, so calling it again after a timeout resumes where it was.
async fn wait_all(tasks: &mut Vec<JoinHandle<()>>) {
    while let Some(task) = tasks.last_mut() {
        // A supervised copy never panics (panics are caught inside); an aborted one is fine.
        let _ = task.await;
        tasks.pop();
    }
}

async fn supervise(
    pool: Arc<Pool>,
    slot: Arc<Slot>,
    copy: usize,
    stop: CancellationToken,
    force: CancellationToken,
) {
    supervise_copy(&pool, &slot, copy, &stop, &force).await;
    slot.backing_off.store(false, Ordering::Relaxed);
    slot.running.store(false, Ordering::Relaxed);
}

async fn supervise_copy(
    pool: &Pool,
    slot: &Slot,
    copy: usize,
    stop: &CancellationToken,
    force: &CancellationToken,
) {
    let name = pool.spec.name();
    let policy = pool.spec.restart_policy();
    let mut consecutive: u32 = 0;
    loop {
        let built = std::panic::catch_unwind(AssertUnwindSafe(|| pool.spec.build(copy)));
        let started = Instant::now();
        let outcome = match built {
            Ok(worker) => {
                *lock(&slot.worker) = Some(Arc::clone(&worker));
                slot.backing_off.store(false, Ordering::Relaxed);
                // Child tokens, one per copy: a worker asks whether it is stopping before
                // every task, and each ask locks its token's node, which the copies of a
                // pool would otherwise all share across threads.
                let ctx = WorkerContext::new(copy, stop.child_token(), force.child_token());
                match AssertUnwindSafe(worker.run(ctx)).catch_unwind().await {
                    Ok(Ok(())) => None,
                    Ok(Err(error)) => Some(plba_util::error_chain(&error)),
                    Err(panic) => Some(format!(
                        "panicked: {}",
                        plba_util::panic_message(panic.as_ref())
                    )),
                }
            }
            Err(panic) => Some(format!(
                "worker factory panicked: {}",
                plba_util::panic_message(panic.as_ref())
            )),
        };
        if stop.is_cancelled() {
            if let Some(error) = outcome {
                tracing::warn!(worker = name, copy, %error, "worker failed while stopping");
            }
            return;
        }
        let error = outcome.unwrap_or_else(|| "returned before a stop was requested".to_owned());
        if started.elapsed() > policy.backoff.max {
            consecutive = 0;
        }
        consecutive = consecutive.saturating_add(1);
        let delay = policy.backoff.delay(consecutive);
        {
            let mut log = lock(&slot.restarts);
            let now = Instant::now();
            log.recent.push_back(now);
            while log
                .recent
                .front()
                .is_some_and(|&t| now.duration_since(t) > policy.window)
            {
                log.recent.pop_front();
            }
            log.total += 1;
            log.last_error = Some(error.clone());
        }
        slot.backing_off.store(true, Ordering::Relaxed);
        tracing::error!(worker = name, copy, %error, restart_in = ?delay, "worker failed; restarting");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stop.cancelled() => return,
        }
    }
}

impl Pool {
    fn status(&self) -> PoolStatus {
        let copies: Vec<CopyStatus> = self
            .copies
            .iter()
            .enumerate()
            .map(|(copy, slot)| {
                let worker = lock(&slot.worker).clone();
                let status = if !slot.running.load(Ordering::Relaxed) {
                    WorkerStatus::Stopped
                } else if self.stopping.load(Ordering::Relaxed) {
                    WorkerStatus::Stopping
                } else if slot.backing_off.load(Ordering::Relaxed) {
                    WorkerStatus::Starting
                } else {
                    worker
                        .as_ref()
                        .map_or(WorkerStatus::Starting, |w| w.status())
                };
                let health = worker.as_ref().map_or(HealthReport::Ok, |w| w.health());
                let log = lock(&slot.restarts);
                CopyStatus {
                    copy,
                    status,
                    health: health.state(),
                    health_reason: health.reason().map(str::to_owned),
                    restarts: log.total,
                    last_error: log.last_error.clone(),
                }
            })
            .collect();
        let status = copies
            .iter()
            .map(|c| c.status)
            .max_by_key(|&s| activity_rank(s))
            .unwrap_or(WorkerStatus::Stopped);
        PoolStatus {
            name: self.spec.name().to_owned(),
            status,
            critical: self.spec.is_critical(),
            copies,
        }
    }

    fn health(&self) -> HealthReport {
        let policy = self.spec.restart_policy();
        let now = Instant::now();
        let mut worst = HealthReport::Ok;
        for (copy, slot) in self.copies.iter().enumerate() {
            let log = lock(&slot.restarts);
            let recent = log
                .recent
                .iter()
                .filter(|&&t| now.duration_since(t) <= policy.window)
                .count();
            let report = if recent > policy.max_restarts as usize {
                HealthReport::unhealthy(format!(
                    "copy {copy} restarted {recent} times within {:?} (budget {}); last error: {}",
                    policy.window,
                    policy.max_restarts,
                    log.last_error.as_deref().unwrap_or("unknown"),
                ))
            } else if slot.backing_off.load(Ordering::Relaxed) {
                HealthReport::degraded(format!(
                    "copy {copy} restarting after: {}",
                    log.last_error.as_deref().unwrap_or("unknown")
                ))
            } else {
                drop(log);
                lock(&slot.worker)
                    .as_ref()
                    .map_or(HealthReport::Ok, |w| w.health())
            };
            if report.state() > worst.state() {
                worst = report;
            }
            if worst.state() == HealthState::Unhealthy {
                break;
            }
        }
        worst
    }
}

/// A pool's health as seen by the health registry.
struct PoolHealth(Arc<Pool>);

#[async_trait]
impl HealthContributor for PoolHealth {
    async fn check(&self) -> HealthReport {
        self.0.health()
    }
}

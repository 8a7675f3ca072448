//! Schedules run by the runtime: occurrences fire once across runtimes sharing a store,
//! missed occurrences follow the policy, `/status` shows next and last run, and a bad
//! cadence is refused at registration.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use plba_contracts::{Missed, Schedule, ScheduleStore};
use plba_core::{CoreError, MemoryScheduleStore, RuntimeManager, RuntimeOptions};
use plba_testkit::module::FnModule;
use plba_testkit::schedule::{RecordingJob, run_all};
use plba_testkit::wait::{eventually, eventually_async};

const DEADLINE: Duration = Duration::from_secs(20);
const PERIOD: Duration = Duration::from_millis(100);

async fn runtime_with(schedule: Schedule) -> Result<RuntimeManager, CoreError> {
    let module = FnModule::new("jobs", move |registry| {
        registry.add_schedule(schedule.clone())
    });
    let runtime = RuntimeManager::new(RuntimeOptions::default());
    runtime.register(&module).await?;
    runtime.start().await?;
    Ok(runtime)
}

#[tokio::test]
async fn the_memory_store_conforms() {
    run_all(
        || -> Arc<dyn ScheduleStore> { Arc::new(MemoryScheduleStore::new()) },
        "memory",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_runtimes_sharing_a_store_run_each_occurrence_once() {
    let store: Arc<dyn ScheduleStore> = Arc::new(MemoryScheduleStore::new());
    let jobs: Vec<Arc<RecordingJob>> = (0..3).map(|_| RecordingJob::new()).collect();
    let mut runtimes = Vec::new();
    for job in &jobs {
        let schedule =
            Schedule::every("tick", PERIOD, Arc::clone(job) as _).with_store(Arc::clone(&store));
        runtimes.push(runtime_with(schedule).await.unwrap());
    }
    let total = || jobs.iter().map(|j| j.ran().len()).sum::<usize>();
    eventually(DEADLINE, "twenty occurrences run", || total() >= 20).await;
    for runtime in &runtimes {
        runtime.stop().await;
    }
    let all: Vec<SystemTime> = jobs.iter().flat_map(|j| j.ran()).collect();
    let distinct: HashSet<SystemTime> = all.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        all.len(),
        "an occurrence ran twice: {all:?}"
    );
    let mut sorted: Vec<SystemTime> = distinct.into_iter().collect();
    sorted.sort();
    for pair in sorted.windows(2) {
        let gap = pair[1].duration_since(pair[0]).unwrap();
        // A runtime woken late runs the latest occurrence and skips what it overslept.
        assert_eq!(
            gap.as_millis() % PERIOD.as_millis(),
            0,
            "occurrences are the period's multiples"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_occurrence_runs_once_on_recovery_or_is_skipped() {
    // New Year's midnight, yearly: whenever the test runs, the latest one is long past.
    let long_ago = SystemTime::now() - Duration::from_secs(400 * 86_400);
    for (missed, runs_at_once) in [(Missed::RunOnce, true), (Missed::Skip, false)] {
        let store = Arc::new(MemoryScheduleStore::new());
        // The last run more than a year ago: at least one occurrence was missed.
        assert!(store.claim("report", long_ago).await.unwrap());
        let job = RecordingJob::new();
        let started = SystemTime::now();
        let schedule = Schedule::cron("report", "0 0 0 1 1 *", "UTC", Arc::clone(&job) as _)
            .with_store(store.clone())
            .missed(missed);
        let runtime = runtime_with(schedule).await.unwrap();
        eventually_async(DEADLINE, "the missed occurrence handled", || async {
            runtime.status().await.schedules[0].last_outcome.is_some()
        })
        .await;
        let ran = job.ran();
        if runs_at_once {
            assert_eq!(ran.len(), 1, "{missed:?}: one run for all missed: {ran:?}");
            assert!(
                ran[0] <= started,
                "the run stands for the latest missed occurrence"
            );
        } else {
            assert!(ran.is_empty(), "{missed:?}: nothing runs: {ran:?}");
        }
        let status = runtime.status().await;
        let schedule = &status.schedules[0];
        assert!(schedule.next_run.is_some(), "{schedule:?}");
        assert!(
            last_run(&runtime).await.is_some_and(|last| last > long_ago),
            "{schedule:?}"
        );
        let outcome = schedule.last_outcome.clone().unwrap();
        assert_eq!(
            outcome.starts_with("skipped"),
            !runs_at_once,
            "{missed:?}: {outcome}"
        );
        runtime.stop().await;
    }
}

async fn last_run(runtime: &RuntimeManager) -> Option<SystemTime> {
    let status = runtime.status().await;
    parse_time(status.schedules.first()?.last_run.as_deref()?)
}

/// A timestamp of the status (RFC 3339).
fn parse_time(text: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(SystemTime::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_next_and_last_run() {
    let job = RecordingJob::new();
    let schedule = Schedule::cron("every-second", "* * * * * *", "UTC", Arc::clone(&job) as _);
    let runtime = runtime_with(schedule).await.unwrap();
    eventually_async(DEADLINE, "a run", || async {
        runtime.status().await.schedules[0].runs > 0
    })
    .await;
    let status = runtime.status().await;
    let schedule = &status.schedules[0];
    assert_eq!(schedule.name, "every-second");
    assert_eq!(schedule.cadence, "cron \"* * * * * *\" in UTC");
    let next = parse_time(schedule.next_run.as_deref().unwrap()).unwrap();
    let last = parse_time(schedule.last_run.as_deref().unwrap()).unwrap();
    assert!(next > last, "{schedule:?}");
    assert_eq!(schedule.last_outcome.as_deref(), Some("ok"));
    assert!(schedule.runs >= 1);
    assert_eq!(schedule.holds_lease, None);
    assert!(
        status
            .workers
            .iter()
            .any(|w| w.name == "schedule:every-second"),
        "the schedule runs as a worker the supervisor restarts"
    );
    runtime.stop().await;
}

#[tokio::test]
async fn a_lease_without_a_shared_store_is_refused() {
    struct Always;
    #[plba_contracts::async_trait]
    impl plba_contracts::Lease for Always {
        async fn hold(&self) -> bool {
            true
        }
        async fn release(&self) {}
        fn renew_interval(&self) -> Duration {
            Duration::from_secs(1)
        }
        fn holder(&self) -> &str {
            "me"
        }
    }
    let schedule =
        Schedule::every("leased", PERIOD, RecordingJob::new()).with_lease(Arc::new(Always));
    let text = plba_util::error_chain(&runtime_with(schedule).await.unwrap_err());
    assert!(text.contains("needs a shared store"), "{text}");
}

#[tokio::test]
async fn a_bad_cadence_is_refused_at_registration() {
    let schedule = Schedule::cron("broken", "0 0 * * *", "Mars/Olympus", RecordingJob::new());
    let error = runtime_with(schedule).await.unwrap_err();
    let text = plba_util::error_chain(&error);
    assert!(
        text.contains("broken") && text.contains("unknown time zone \"Mars/Olympus\""),
        "{text}"
    );
}

//! "Any `ScheduleStore` must…": the conformance suite every store runs, through
//! [`run_all`], and a job that records the occurrences it ran.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use plba_contracts::{Occurrence, ScheduleStore, ScheduledJob, TaskError, async_trait};
use plba_util::Unpoisoned;

/// A job that records each occurrence it ran, in order.
#[derive(Debug, Default)]
pub struct RecordingJob {
    ran: Mutex<Vec<SystemTime>>,
}

impl RecordingJob {
    /// An empty recorder.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The occurrences run so far.
    pub fn ran(&self) -> Vec<SystemTime> {
        self.ran.lock_or_recover().clone()
    }
}

#[async_trait]
impl ScheduledJob for RecordingJob {
    async fn run(&self, occurrence: Occurrence) -> Result<(), TaskError> {
        self.ran.lock_or_recover().push(occurrence.at);
        Ok(())
    }
}

/// Runs every check of the suite, each on a store from `store` (called once per check);
/// `prefix` keeps the schedule names of this run apart from others on a shared backend.
/// Stores run the suite through this, so a check added here runs for every one of them (the
/// test kit's own tests fail when a check is left out).
pub async fn run_all(store: impl Fn() -> Arc<dyn ScheduleStore>, prefix: &str) {
    claims_are_compare_and_set(store(), prefix).await;
    one_winner_per_occurrence(store(), prefix).await;
}

/// Claims are a compare-and-set on the latest occurrence, per schedule: an occurrence is
/// claimed once, an earlier one never after a later one, and schedules do not share.
/// `prefix` keeps the schedule names of one run apart from others on a shared backend.
pub async fn claims_are_compare_and_set(store: Arc<dyn ScheduleStore>, prefix: &str) {
    let nightly = format!("{prefix}-nightly");
    let hourly = format!("{prefix}-hourly");
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    assert_eq!(store.last_fired(&nightly).await.unwrap(), None);
    assert!(store.claim(&nightly, t).await.unwrap(), "first claim");
    assert!(
        !store.claim(&nightly, t).await.unwrap(),
        "same occurrence twice"
    );
    assert!(
        !store
            .claim(&nightly, t - Duration::from_millis(1))
            .await
            .unwrap(),
        "an earlier occurrence after a later one"
    );
    assert_eq!(store.last_fired(&nightly).await.unwrap(), Some(t));
    assert!(store.claim(&hourly, t).await.unwrap(), "another schedule");
    let later = t + Duration::from_millis(1);
    assert!(store.claim(&nightly, later).await.unwrap(), "the next one");
    assert_eq!(store.last_fired(&nightly).await.unwrap(), Some(later));
}

/// Many claimers racing for one occurrence: exactly one wins.
pub async fn one_winner_per_occurrence(store: Arc<dyn ScheduleStore>, prefix: &str) {
    let name = format!("{prefix}-race");
    for round in 0..20u64 {
        let occurrence = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + round);
        let claims: Vec<_> = (0..8)
            .map(|_| {
                let store = Arc::clone(&store);
                let name = name.clone();
                tokio::spawn(async move { store.claim(&name, occurrence).await.unwrap() })
            })
            .collect();
        let mut winners = 0;
        for claim in claims {
            winners += usize::from(claim.await.unwrap());
        }
        assert_eq!(winners, 1, "round {round}: {winners} claimers won");
    }
}

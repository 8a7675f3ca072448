//! The recovery of lost reminders: the store is the truth, so a reminder still `scheduled`
//! or `sending` well after its time has lost its task (a memory queue dies with its
//! process) or is being retried; publishing it again is safe, since its idempotency key
//! makes the publish a no-op while its task lives.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use plba_contracts::{Occurrence, Publisher, Schedule, ScheduledJob, TaskError, async_trait};

use crate::handler::reminder_task;
use crate::store::{ReminderStore, now_ms};

/// How many reminders one run publishes again, at most (the next run takes the rest).
const BATCH: i64 = 500;

/// The schedule's name in status and logs.
pub const RECOVERY_SCHEDULE: &str = "reminder-recovery";

struct Recovery {
    store: ReminderStore,
    publisher: Publisher,
    after: Duration,
}

#[async_trait]
impl ScheduledJob for Recovery {
    async fn run(&self, _occurrence: Occurrence) -> Result<(), TaskError> {
        let late = i64::try_from(self.after.as_millis()).unwrap_or(i64::MAX);
        let overdue = self
            .store
            .overdue(now_ms().saturating_sub(late), BATCH)
            .await
            .map_err(|error| TaskError::transient(plba_util::error_chain(&error)))?;
        let mut recovered = 0_u32;
        for (invoice_id, stage) in &overdue {
            let task = reminder_task(invoice_id, stage, SystemTime::now())?;
            let published = self.publisher.publish(task).await.map_err(|error| {
                TaskError::transient(format!("a lost reminder was not published again: {error}"))
            })?;
            if !published.is_duplicate() {
                recovered += 1;
            }
        }
        if recovered > 0 {
            tracing::warn!(recovered, "reminders whose task was lost published again");
        }
        Ok(())
    }
}

/// A schedule that, every `after`, publishes again the reminders overdue by more than
/// `after` whose task is gone.
pub(crate) fn recovery(store: ReminderStore, publisher: Publisher, after: Duration) -> Schedule {
    let job = Recovery {
        store,
        publisher,
        after,
    };
    Schedule::every(RECOVERY_SCHEDULE, after, Arc::new(job))
}

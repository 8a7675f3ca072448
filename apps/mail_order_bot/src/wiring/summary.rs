//! The nightly summary: at each occurrence of its schedule, the orders (per customer) and
//! rejections since the last summary written (normally the day before), as one CSV file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use plba_contracts::{
    Backoff, Jitter, Occurrence, ScheduledJob, TaskError, Timetable, async_trait,
};

use crate::decision::PeriodSummary;
use crate::store::OrderStore;

/// How far back a summary looks when its schedule has no earlier occurrence.
pub const SUMMARY_PERIOD: Duration = Duration::from_secs(24 * 3600);

/// The longest one occurrence keeps trying (a database or a disk that is back within the
/// hour does not cost the night); never more than half the time to the next occurrence.
const KEEP_TRYING: Duration = Duration::from_secs(3600);

const FILE_PREFIX: &str = "orders-summary-";
const FILE_TIME: &str = "%Y%m%dT%H%M%SZ";

/// Writes `orders-summary-<occurrence>.csv` into its directory at each occurrence, covering
/// everything since the last summary — the schedule's previous occurrence in the normal
/// case (a local day, 23 or 25 hours long across a daylight-saving change, for a nightly
/// schedule), longer after missed nights or a night whose summary failed:
///
/// - a bot on its own starts from the newest summary file in its directory, so every order
///   is in exactly one of its summaries;
/// - bots sharing the schedule (a lease) start from the later of that file and the
///   occurrence claimed before this one (another bot may have written it, in its own
///   directory); a night whose summary failed on another bot is then not caught up.
#[derive(Debug)]
pub struct SummaryJob {
    store: Arc<dyn OrderStore>,
    directory: PathBuf,
    timetable: Timetable,
    shared: bool,
}

impl SummaryJob {
    /// A job reading `store` and writing into `directory` (created when missing), for the
    /// schedule whose occurrences `timetable` gives; `shared` when other bots run the same
    /// schedule (a lease).
    pub fn new(
        store: Arc<dyn OrderStore>,
        directory: PathBuf,
        timetable: Timetable,
        shared: bool,
    ) -> Self {
        Self {
            store,
            directory,
            timetable,
            shared,
        }
    }

    /// Where the period ending at `occurrence` starts (see the type's documentation).
    async fn period_start(&self, occurrence: &Occurrence) -> SystemTime {
        let written = self.latest_written(occurrence.at).await;
        let previous = occurrence.previous.filter(|p| *p < occurrence.at);
        let start = if self.shared {
            written.into_iter().chain(previous).max()
        } else {
            written.or(previous)
        };
        start
            .or_else(|| {
                occurrence
                    .at
                    .checked_sub(Duration::from_millis(1))
                    .and_then(|before| self.timetable.latest_until(before))
            })
            .unwrap_or_else(|| occurrence.at - SUMMARY_PERIOD)
    }

    /// The occurrence of the newest summary file in the directory before `before`, if any.
    async fn latest_written(&self, before: SystemTime) -> Option<SystemTime> {
        let mut entries = tokio::fs::read_dir(&self.directory).await.ok()?;
        let mut latest = None;
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name();
            let Some(at) = name.to_str().and_then(file_time) else {
                continue;
            };
            if at < before && latest.is_none_or(|l| at > l) {
                latest = Some(at);
            }
        }
        latest
    }

    async fn write_once(&self, occurrence: &Occurrence) -> Result<(), TaskError> {
        let from = self.period_start(occurrence).await;
        let occurrence = occurrence.at;
        let summary = self
            .store
            .summarize(store_millis(from), store_millis(occurrence))
            .await
            .map_err(|error| {
                TaskError::transient("reading the day's orders and rejections failed")
                    .with_source(error)
            })?;
        let name = summary_file_name(occurrence);
        write_atomically(
            &self.directory,
            &name,
            summary_csv(&summary, from, occurrence),
        )
        .await
        .map_err(|error| {
            TaskError::transient(format!(
                "writing the summary {:?} failed",
                self.directory.join(&name)
            ))
            .with_source(error)
        })?;
        let orders: i64 = summary.customers.iter().map(|c| c.orders).sum();
        tracing::info!(
            file = %self.directory.join(&name).display(),
            orders,
            customers = summary.customers.len(),
            rejections = summary.rejections,
            "order summary written"
        );
        Ok(())
    }
}

/// Milliseconds since the epoch, as the store keeps them.
fn store_millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn rfc3339(at: SystemTime) -> String {
    DateTime::<Utc>::from(at).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The file a summary for `occurrence` goes to: sortable, one per occurrence.
pub fn summary_file_name(occurrence: SystemTime) -> String {
    format!(
        "{FILE_PREFIX}{}.csv",
        DateTime::<Utc>::from(occurrence).format(FILE_TIME)
    )
}

/// The occurrence a summary file's name stands for; `None` for any other file.
fn file_time(name: &str) -> Option<SystemTime> {
    let stamp = name.strip_prefix(FILE_PREFIX)?.strip_suffix(".csv")?;
    let time = NaiveDateTime::parse_from_str(stamp, FILE_TIME).ok()?;
    Some(SystemTime::from(time.and_utc()))
}

/// The CSV text of `summary` over `[from, until)`: one `orders` row per customer, then one
/// `rejections` row (always there, so a quiet day reads as zero, not as a missing file).
pub fn summary_csv(summary: &PeriodSummary, from: SystemTime, until: SystemTime) -> String {
    let (from, until) = (rfc3339(from), rfc3339(until));
    let mut text =
        String::from("period_start,period_end,kind,customer,count,total_quantity,total_cents\n");
    for customer in &summary.customers {
        text.push_str(&format!(
            "{from},{until},orders,{},{},{},{}\n",
            csv_field(&customer.customer_id),
            customer.orders,
            customer.total_quantity,
            customer.total_cents
        ));
    }
    text.push_str(&format!(
        "{from},{until},rejections,,{},,\n",
        summary.rejections
    ));
    text
}

/// A CSV field, quoted when it holds a separator, a quote or a line break; a leading `=`,
/// `+`, `-`, `@`, tab or carriage return is defused so a spreadsheet does not run it as a
/// formula (spreadsheets skip a leading tab or return before reading one).
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

async fn write_atomically(directory: &Path, name: &str, text: String) -> std::io::Result<()> {
    tokio::fs::create_dir_all(directory).await?;
    let partial = directory.join(format!(".{name}.partial"));
    tokio::fs::write(&partial, text).await?;
    tokio::fs::rename(&partial, directory.join(name)).await
}

#[async_trait]
impl ScheduledJob for SummaryJob {
    /// Keeps trying, backing off, for up to an hour (and never past half the time to the
    /// next occurrence): the schedule claims an occurrence once, so a retry happens here.
    async fn run(&self, occurrence: Occurrence) -> Result<(), TaskError> {
        let backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(300))
            .with_jitter(Jitter::Equal);
        let patience = self
            .timetable
            .next_after(occurrence.at)
            .and_then(|next| next.duration_since(occurrence.at).ok())
            .map_or(KEEP_TRYING, |gap| (gap / 2).min(KEEP_TRYING));
        let started = tokio::time::Instant::now();
        let mut tries = 0;
        loop {
            tries += 1;
            match self.write_once(&occurrence).await {
                Ok(()) => return Ok(()),
                Err(error) => {
                    let pause = backoff.delay(tries);
                    if started.elapsed() + pause > patience {
                        return Err(error);
                    }
                    tracing::warn!(error = %plba_util::error_chain(&error), retry_in = ?pause, "order summary failed; trying again");
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::CustomerTotals;

    /// A store the period test never reaches.
    #[derive(Debug)]
    struct NoStore;

    #[async_trait]
    impl OrderStore for NoStore {
        async fn create_order(
            &self,
            _: &crate::decision::NewOrder,
        ) -> Result<crate::store::Stored, crate::error::DomainError> {
            unreachable!()
        }
        async fn record_rejection(
            &self,
            _: &crate::decision::NewRejection,
        ) -> Result<i64, crate::error::DomainError> {
            unreachable!()
        }
        async fn list_orders(
            &self,
            _: u32,
        ) -> Result<Vec<crate::decision::Order>, crate::error::DomainError> {
            unreachable!()
        }
        async fn get_order(
            &self,
            _: i64,
        ) -> Result<Option<crate::decision::Order>, crate::error::DomainError> {
            unreachable!()
        }
        async fn list_rejections(
            &self,
            _: u32,
        ) -> Result<Vec<crate::decision::Rejection>, crate::error::DomainError> {
            unreachable!()
        }
        async fn summarize(
            &self,
            _: i64,
            _: i64,
        ) -> Result<PeriodSummary, crate::error::DomainError> {
            unreachable!()
        }
        async fn check_writable(&self) -> Result<(), crate::error::DomainError> {
            unreachable!()
        }
    }

    #[tokio::test]
    async fn a_nightly_summary_covers_the_local_day_also_when_it_has_23_hours() {
        let cadence = plba_contracts::Cadence::Cron {
            expression: "0 0 0 * * *".to_owned(),
            time_zone: "Europe/Berlin".to_owned(),
        };
        let job = SummaryJob::new(
            Arc::new(NoStore),
            PathBuf::from("no-such-directory"),
            Timetable::parse(&cadence).unwrap(),
            false,
        );
        // Midnight in Berlin after the switch to summer time (29 March 2026 had 23 hours).
        let at = UNIX_EPOCH + Duration::from_secs(1_774_821_600); // 2026-03-29T22:00:00Z
        let first = Occurrence { at, previous: None };
        let from = job.period_start(&first).await;
        assert_eq!(rfc3339(from), "2026-03-28T23:00:00Z");
        assert_eq!(
            at.duration_since(from).unwrap(),
            Duration::from_secs(23 * 3600)
        );
        // Three nights missed: the catch-up covers them all.
        let caught_up = Occurrence {
            at,
            previous: Some(at - Duration::from_secs(4 * 86_400)),
        };
        assert_eq!(
            at.duration_since(job.period_start(&caught_up).await)
                .unwrap(),
            Duration::from_secs(4 * 86_400)
        );
    }

    #[test]
    fn the_csv_has_a_row_per_customer_and_always_a_rejections_row() {
        let until = UNIX_EPOCH + Duration::from_secs(1_796_083_200); // 2026-12-01T00:00:00Z
        let from = until - SUMMARY_PERIOD;
        let summary = PeriodSummary {
            customers: vec![
                CustomerTotals {
                    customer_id: "ACME".to_owned(),
                    orders: 3,
                    total_quantity: 12,
                    total_cents: 4500,
                },
                CustomerTotals {
                    customer_id: "=HYPERLINK(\"x\")".to_owned(),
                    orders: 1,
                    total_quantity: 1,
                    total_cents: 0,
                },
            ],
            rejections: 2,
        };
        assert_eq!(
            summary_csv(&summary, from, until),
            "period_start,period_end,kind,customer,count,total_quantity,total_cents\n\
             2026-11-30T00:00:00Z,2026-12-01T00:00:00Z,orders,ACME,3,12,4500\n\
             2026-11-30T00:00:00Z,2026-12-01T00:00:00Z,orders,\"'=HYPERLINK(\"\"x\"\")\",1,1,0\n\
             2026-11-30T00:00:00Z,2026-12-01T00:00:00Z,rejections,,2,,\n"
        );
        assert_eq!(
            summary_file_name(until),
            "orders-summary-20261201T000000Z.csv"
        );
        assert_eq!(file_time(&summary_file_name(until)), Some(until));
        assert_eq!(
            file_time(".orders-summary-20261201T000000Z.csv.partial"),
            None
        );
        assert_eq!(csv_field("\t=1+1"), "'\t=1+1");
        assert_eq!(csv_field("\r=1"), "\"'\r=1\"");
        let quiet = summary_csv(&PeriodSummary::default(), from, until);
        assert!(quiet.ends_with("rejections,,0,,\n"), "{quiet}");
    }
}

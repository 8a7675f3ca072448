//! The nightly summary: at each occurrence of its schedule, the orders (per customer) and
//! rejections of the 24 hours before, written as one CSV file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};
use plba_contracts::{ScheduledJob, TaskError, async_trait};

use crate::model::PeriodSummary;
use crate::store::OrderStore;

/// How far back a summary looks from its occurrence.
pub const SUMMARY_PERIOD: Duration = Duration::from_secs(24 * 3600);

/// Writes `orders-summary-<occurrence>.csv` into its directory at each occurrence.
#[derive(Debug)]
pub struct SummaryJob {
    store: Arc<dyn OrderStore>,
    directory: PathBuf,
}

impl SummaryJob {
    /// A job reading `store` and writing into `directory` (created when missing).
    pub fn new(store: Arc<dyn OrderStore>, directory: PathBuf) -> Self {
        Self { store, directory }
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
        "orders-summary-{}.csv",
        DateTime::<Utc>::from(occurrence).format("%Y%m%dT%H%M%SZ")
    )
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
/// `+`, `-` or `@` is defused so a spreadsheet does not run it as a formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
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
    async fn run(&self, occurrence: SystemTime) -> Result<(), TaskError> {
        let from = occurrence - SUMMARY_PERIOD;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CustomerTotals;

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
        let quiet = summary_csv(&PeriodSummary::default(), from, until);
        assert!(quiet.ends_with("rejections,,0,,\n"), "{quiet}");
    }
}

//! The console's pages: invoices (each with its reminders) and reminders, through the
//! `AppView` contract.

use plba_contracts::{AppView, ViewError, ViewRow, ViewTable, async_trait};

use crate::store::ReminderStore;

/// How many rows a search looks through (newest first).
const SEARCHED: i64 = 1_000;

fn matches(search: &str, fields: &[&str]) -> bool {
    let search = search.trim().to_lowercase();
    search.is_empty() || fields.iter().any(|f| f.to_lowercase().contains(&search))
}

fn time(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

fn unavailable(view: &str, error: crate::ReminderError) -> ViewError {
    ViewError::new(view, "the reminder store did not answer").with_source(error)
}

/// Invoices: search by number, customer or address; one with its reminders.
#[derive(Debug)]
pub(crate) struct InvoicesView(pub ReminderStore);

#[async_trait]
impl AppView for InvoicesView {
    fn name(&self) -> &str {
        "invoices"
    }

    fn title(&self) -> &str {
        "Invoices"
    }

    async fn list(&self, search: &str, limit: usize) -> Result<ViewTable, ViewError> {
        let invoices = self
            .0
            .invoices(SEARCHED)
            .await
            .map_err(|e| unavailable("invoices", e))?;
        let rows = invoices
            .iter()
            .filter(|s| {
                matches(
                    search,
                    &[&s.invoice.invoice_id, &s.invoice.customer, &s.invoice.email],
                )
            })
            .take(limit)
            .map(|s| ViewRow {
                id: s.invoice.invoice_id.clone(),
                cells: vec![
                    s.invoice.invoice_id.clone(),
                    s.invoice.customer.clone(),
                    s.invoice.email.clone(),
                    format!("{} {}", s.invoice.amount, s.invoice.currency),
                    s.invoice.due.clone(),
                    if s.paid_ms.is_some() { "paid" } else { "open" }.to_owned(),
                    s.reminders_sent.to_string(),
                ],
                trace_id: None,
            })
            .collect();
        Ok(ViewTable {
            columns: [
                "invoice",
                "customer",
                "e-mail",
                "amount",
                "due",
                "status",
                "reminders sent",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows,
        })
    }

    async fn item(&self, id: &str) -> Result<Option<serde_json::Value>, ViewError> {
        let Some(found) = self
            .0
            .invoice(id)
            .await
            .map_err(|e| unavailable("invoices", e))?
        else {
            return Ok(None);
        };
        let reminders = self
            .0
            .reminders(Some(id), 100)
            .await
            .map_err(|e| unavailable("invoices", e))?;
        Ok(Some(serde_json::json!({
            "invoice": found.invoice,
            "received": time(Some(found.received_ms)),
            "paid": time(found.paid_ms),
            "reminders": reminders.iter().map(|r| serde_json::json!({
                "stage": r.stage, "due": time(Some(r.due_ms)), "state": r.state, "sent": time(r.sent_ms),
            })).collect::<Vec<_>>(),
        })))
    }
}

/// Reminders: scheduled, sent, cancelled or skipped, latest due first.
#[derive(Debug)]
pub(crate) struct RemindersView(pub ReminderStore);

#[async_trait]
impl AppView for RemindersView {
    fn name(&self) -> &str {
        "reminders"
    }

    fn title(&self) -> &str {
        "Reminders"
    }

    async fn list(&self, search: &str, limit: usize) -> Result<ViewTable, ViewError> {
        let reminders = self
            .0
            .reminders(None, SEARCHED)
            .await
            .map_err(|e| unavailable("reminders", e))?;
        let rows = reminders
            .iter()
            .filter(|r| matches(search, &[&r.invoice_id, &r.stage, &r.state]))
            .take(limit)
            .map(|r| ViewRow {
                id: r.invoice_id.clone(),
                cells: vec![
                    r.invoice_id.clone(),
                    r.stage.clone(),
                    time(Some(r.due_ms)),
                    r.state.clone(),
                    time(r.sent_ms),
                ],
                trace_id: None,
            })
            .collect();
        Ok(ViewTable {
            columns: ["invoice", "stage", "due", "state", "sent"]
                .map(str::to_owned)
                .to_vec(),
            rows,
        })
    }

    async fn item(&self, id: &str) -> Result<Option<serde_json::Value>, ViewError> {
        let reminders = self
            .0
            .reminders(Some(id), 100)
            .await
            .map_err(|e| unavailable("reminders", e))?;
        Ok((!reminders.is_empty())
            .then(|| serde_json::json!({ "invoice_id": id, "reminders": reminders })))
    }
}

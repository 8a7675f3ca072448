//! The bot's pages in the operator console: orders and rejections, searchable, each one in
//! detail. Through the `AppView` contract: the domain knows nothing of the console.

use std::sync::Arc;

use plba_contracts::{AppView, ViewError, ViewRow, ViewTable, async_trait};

use crate::decision::format_cents;
use crate::error::DomainError;
use crate::store::OrderStore;

/// How many stored rows a search looks through (newest first).
const SEARCHED: u32 = 1_000;

fn unavailable(view: &str, error: DomainError) -> ViewError {
    ViewError::new(view, "the order store did not answer").with_source(error)
}

/// Whether any of `fields` contains `search`, ignoring case (an empty search matches all).
fn matches(search: &str, fields: &[&str]) -> bool {
    let search = search.trim().to_lowercase();
    search.is_empty() || fields.iter().any(|f| f.to_lowercase().contains(&search))
}

/// Orders: search by customer, sender, Message-ID or subject; an order with its lines.
#[derive(Debug)]
pub struct OrdersView(pub Arc<dyn OrderStore>);

#[async_trait]
impl AppView for OrdersView {
    fn name(&self) -> &str {
        "orders"
    }

    fn title(&self) -> &str {
        "Orders"
    }

    async fn list(&self, search: &str, limit: usize) -> Result<ViewTable, ViewError> {
        let orders = self
            .0
            .list_orders(SEARCHED)
            .await
            .map_err(|e| unavailable("orders", e))?;
        let rows = orders
            .iter()
            .filter(|o| {
                let n = &o.order;
                matches(
                    search,
                    &[
                        &n.customer_id,
                        &n.sender,
                        &n.message_id,
                        n.subject.as_deref().unwrap_or_default(),
                    ],
                )
            })
            .take(limit)
            .map(|o| ViewRow {
                id: o.id.to_string(),
                cells: vec![
                    o.id.to_string(),
                    o.order.customer_id.clone(),
                    o.order.sender.clone(),
                    o.order.message_id.clone(),
                    o.order.lines.len().to_string(),
                    o.total_quantity.to_string(),
                    o.total_cents.map(format_cents).unwrap_or_default(),
                ],
                trace_id: None,
            })
            .collect();
        Ok(ViewTable {
            columns: [
                "order",
                "customer",
                "sender",
                "Message-ID",
                "lines",
                "quantity",
                "total",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows,
        })
    }

    async fn item(&self, id: &str) -> Result<Option<serde_json::Value>, ViewError> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(None);
        };
        let order = self
            .0
            .get_order(id)
            .await
            .map_err(|e| unavailable("orders", e))?;
        Ok(order.and_then(|o| serde_json::to_value(o).ok()))
    }
}

/// Rejections: search by sender, subject, message or reason; each with every reason.
#[derive(Debug)]
pub struct RejectionsView(pub Arc<dyn OrderStore>);

#[async_trait]
impl AppView for RejectionsView {
    fn name(&self) -> &str {
        "rejections"
    }

    fn title(&self) -> &str {
        "Rejections"
    }

    async fn list(&self, search: &str, limit: usize) -> Result<ViewTable, ViewError> {
        let rejections = self
            .0
            .list_rejections(SEARCHED)
            .await
            .map_err(|e| unavailable("rejections", e))?;
        let rows = rejections
            .iter()
            .filter(|r| {
                let n = &r.rejection;
                let reasons = n.reasons.join("; ");
                matches(
                    search,
                    &[
                        n.sender.as_deref().unwrap_or_default(),
                        n.subject.as_deref().unwrap_or_default(),
                        &n.message_key,
                        &reasons,
                    ],
                )
            })
            .take(limit)
            .map(|r| ViewRow {
                id: r.id.to_string(),
                cells: vec![
                    r.id.to_string(),
                    r.rejection.sender.clone().unwrap_or_default(),
                    r.rejection.subject.clone().unwrap_or_default(),
                    r.rejection.reasons.join("; "),
                ],
                trace_id: r.rejection.trace_id.clone(),
            })
            .collect();
        Ok(ViewTable {
            columns: ["rejection", "sender", "subject", "reasons"]
                .map(str::to_owned)
                .to_vec(),
            rows,
        })
    }

    async fn item(&self, id: &str) -> Result<Option<serde_json::Value>, ViewError> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(None);
        };
        let rejections = self
            .0
            .list_rejections(SEARCHED)
            .await
            .map_err(|e| unavailable("rejections", e))?;
        Ok(rejections
            .into_iter()
            .find(|r| r.id == id)
            .and_then(|r| serde_json::to_value(r).ok()))
    }
}

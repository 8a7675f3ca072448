//! The order handler: one mail in, one order or one rejection out.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use plba_contracts::{TaskError, async_trait};
use plba_mail::{MailHandler, RawMail};

use crate::model::Decision;
use crate::process::process_mail;
use crate::rules::Rules;
use crate::store::{OrderStore, Stored};

/// Turns a mail into an order (stored once per Message-ID) or a recorded rejection.
///
/// A rejection is a permanent failure: the mail is marked as rejected and never retried. A
/// store failure is transient: the mail stays unseen and is retried.
pub struct OrderMailHandler {
    rules: Arc<Rules>,
    store: Arc<dyn OrderStore>,
}

impl OrderMailHandler {
    /// A handler applying `rules` and writing to `store`.
    pub fn new(rules: Arc<Rules>, store: Arc<dyn OrderStore>) -> Self {
        Self { rules, store }
    }
}

#[async_trait]
impl MailHandler for OrderMailHandler {
    async fn handle_mail(&self, mail: &RawMail) -> Result<(), TaskError> {
        let received_at_ms = mail
            .received_at
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .unwrap_or(0);
        let rules = Arc::clone(&self.rules);
        let bytes = mail.bytes.clone();
        let key = mail.reference.key.clone();
        // MIME, CSV and XLSX parsing are CPU work: keep them off the async threads.
        let decision =
            tokio::task::spawn_blocking(move || process_mail(&bytes, &key, received_at_ms, &rules))
                .await
                .map_err(|e| {
                    TaskError::transient("mail processing was interrupted").with_source(e)
                })?;
        match decision {
            Decision::Order(order) => {
                tracing::info!(
                    message_id = %order.message_id,
                    customer = %order.customer_id,
                    lines = order.lines.len(),
                    "mail parsed into an order"
                );
                match self.store.create_order(&order).await {
                    Ok(Stored::Created(id)) => {
                        tracing::info!(
                            order_id = id,
                            total_quantity = order.total_quantity(),
                            "order stored"
                        );
                        Ok(())
                    }
                    Ok(Stored::AlreadyExists(id)) => {
                        tracing::info!(order_id = id, message_id = %order.message_id, "duplicate mail: the order exists already");
                        Ok(())
                    }
                    Err(error) => {
                        Err(TaskError::transient("the order store is unavailable")
                            .with_source(error))
                    }
                }
            }
            Decision::Rejected(rejection) => {
                let reasons = rejection.reasons.join("; ");
                tracing::info!(message_key = %rejection.message_key, %reasons, "mail rejected");
                self.store.record_rejection(&rejection).await.map_err(|e| {
                    TaskError::transient("the order store is unavailable").with_source(e)
                })?;
                Err(TaskError::permanent(reasons))
            }
        }
    }
}

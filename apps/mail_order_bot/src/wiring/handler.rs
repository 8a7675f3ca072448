//! The order handler: one mail in, one order or one rejection out.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use plba_contracts::{TaskError, async_trait};
use plba_mail::{MailHandler, MailOutcome, MailRef, RawMail};

use super::live_config::LiveRules;
use crate::decision::{Decision, NewRejection, process_light_mail, process_mail};
use crate::error::DomainError;
use crate::store::{OrderStore, Stored};

/// The largest mail parsed on the async thread that received it; larger ones are parsed
/// on the blocking pool. Mails of plain-text orders and small CSV files stay well below.
const INLINE_PARSE_BYTES: usize = 32 * 1024;

/// A store failure: transient, the mail stays unseen and is retried.
fn unavailable(error: DomainError) -> TaskError {
    TaskError::transient("the order store is unavailable").with_source(error)
}

/// Turns a mail into an order (stored once per Message-ID) or a recorded rejection.
///
/// Both are handled outcomes: the mail is marked seen (a rejection also flagged or moved)
/// and never retried. A store failure is transient: the mail stays unseen and is retried.
#[derive(Debug)]
pub struct OrderMailHandler {
    rules: Arc<LiveRules>,
    store: Arc<dyn OrderStore>,
}

impl OrderMailHandler {
    /// A handler applying the rules in force in `rules` and writing to `store`.
    pub fn new(rules: Arc<LiveRules>, store: Arc<dyn OrderStore>) -> Self {
        Self { rules, store }
    }
}

#[async_trait]
impl MailHandler for OrderMailHandler {
    async fn handle_mail(&self, mail: &RawMail) -> Result<MailOutcome, TaskError> {
        let received_at_ms = mail
            .received_at
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .unwrap_or(0);
        let rules = self.rules.current();
        // MIME, CSV and XLSX parsing are CPU work. A small mail without a spreadsheet takes
        // tens of microseconds, less than the hop to the blocking pool and back: it is
        // parsed here. A large one, or any spreadsheet (a small file can unpack to
        // megabytes of XML), could hold an async thread for milliseconds: off it goes.
        let light = (mail.bytes.len() <= INLINE_PARSE_BYTES)
            .then(|| process_light_mail(&mail.bytes, &mail.reference.key, received_at_ms, &rules))
            .flatten();
        let decision = match light {
            Some(decision) => decision,
            None => {
                let bytes = mail.bytes.clone();
                let key = mail.reference.key.clone();
                tokio::task::spawn_blocking(move || {
                    process_mail(&bytes, &key, received_at_ms, &rules)
                })
                .await
                .map_err(|e| {
                    TaskError::transient("mail processing was interrupted").with_source(e)
                })?
            }
        };
        match decision {
            Decision::Order(order) => match self.store.create_order(&order).await {
                Ok(Stored::Created(id)) => Ok(MailOutcome::done(
                    "order",
                    format!(
                        "order {id} stored for {} ({} lines, {} units, Message-ID {})",
                        order.customer_id,
                        order.lines.len(),
                        order.total_quantity(),
                        order.message_id
                    ),
                )),
                Ok(Stored::AlreadyExists { id, sender }) if sender == order.sender => {
                    Ok(MailOutcome::done(
                        "duplicate",
                        format!(
                            "duplicate mail: order {id} exists already for Message-ID {}",
                            order.message_id
                        ),
                    ))
                }
                Ok(Stored::AlreadyExists { id, sender }) => {
                    // Not a redelivery: someone else reuses the Message-ID. Keep a record.
                    let reason = format!(
                        "Message-ID {} is already used by order {id} from {sender}, not by {}",
                        order.message_id, order.sender
                    );
                    let rejection = NewRejection {
                        message_key: format!("{}#{}", order.message_id, order.sender),
                        sender: Some(order.sender.clone()),
                        subject: order.subject.clone(),
                        received_at_ms: order.received_at_ms,
                        reasons: vec![reason.clone()],
                        trace_id: mail.trace_id.clone(),
                    };
                    self.store
                        .record_rejection(&rejection)
                        .await
                        .map_err(unavailable)?;
                    Ok(MailOutcome::rejected(reason))
                }
                Err(error) => Err(unavailable(error)),
            },
            Decision::Rejected(mut rejection) => {
                rejection.trace_id.clone_from(&mail.trace_id);
                self.store
                    .record_rejection(&rejection)
                    .await
                    .map_err(unavailable)?;
                Ok(MailOutcome::rejected(rejection.reasons.join("; ")))
            }
        }
    }

    async fn record_unread(&self, reference: &MailRef, reason: &str) -> Result<(), TaskError> {
        let rejection = NewRejection {
            message_key: reference.key.clone(),
            sender: None,
            subject: None,
            received_at_ms: 0,
            reasons: vec![reason.to_owned()],
            trace_id: None,
        };
        self.store
            .record_rejection(&rejection)
            .await
            .map(drop)
            .map_err(unavailable)
    }
}

//! What each task does: an invoice schedules its reminders, a payment cancels them, a
//! reminder that comes due is rendered and sent.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plba_contracts::{ConfigError, Publisher, Task, TaskError, TaskHandler, async_trait};
use serde::{Deserialize, Serialize};

use crate::config::{AppConfig, INVOICE_TASK, PAYMENT_TASK, REMINDER_TASK};
use crate::error::ReminderError;
use crate::invoice::{Invoice, parse_invoice, parse_payment};
use crate::mailer::{Mailer, Outgoing, sender};
use crate::store::{Claim, ReminderStore};
use crate::template::{ReminderContext, Templates};

/// How long past its due moment a reminder's idempotency key is kept.
const KEY_MARGIN: Duration = Duration::from_secs(30 * 86_400);

/// One reminder's task: which invoice, which stage.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReminderRef {
    invoice_id: String,
    stage: String,
}

/// A reminder stage with its delay, as the handler uses it.
#[derive(Clone, Debug)]
pub(crate) struct StageDelay {
    /// The stage's name.
    pub(crate) name: String,
    /// How long after the due moment.
    pub(crate) after: Duration,
}

/// Handles the three tasks of the reminders queue.
#[derive(Debug)]
pub(crate) struct ReminderHandler {
    /// Where invoices and reminders are kept.
    pub(crate) store: ReminderStore,
    /// Where reminders are published, delayed to their time.
    pub(crate) publisher: Publisher,
    /// The stages, in order.
    pub(crate) stages: Vec<StageDelay>,
    /// The time zone of due dates.
    pub(crate) time_zone: chrono_tz::Tz,
    /// The e-mail's templates.
    pub(crate) templates: Templates,
    /// Where e-mail goes.
    pub(crate) mailer: Arc<Mailer>,
    /// The domain of the sender, for Message-IDs.
    pub(crate) domain: String,
}

impl ReminderHandler {
    /// The handler `config` describes, keeping invoices in `store` and publishing
    /// reminders through `publisher`.
    pub(crate) fn new(
        config: &AppConfig,
        store: ReminderStore,
        publisher: Publisher,
    ) -> Result<Self, ReminderError> {
        let stages = config
            .stages
            .iter()
            .map(|stage| {
                Ok(StageDelay {
                    name: stage.name.clone(),
                    after: stage.delay()?,
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Self {
            store,
            publisher,
            stages,
            time_zone: config.time_zone()?,
            templates: Templates::new(&config.template)?,
            mailer: Arc::new(Mailer::new(&config.mail)?),
            domain: sender(config.mail.from())?.email.domain().to_owned(),
        })
    }
}

fn permanent(what: &str, error: impl std::fmt::Display) -> TaskError {
    TaskError::permanent(plba_util::printable(&format!("{what}: {error}")).into_owned())
}

fn transient(error: ReminderError) -> TaskError {
    let message = plba_util::printable(&plba_util::error_chain(&error)).into_owned();
    TaskError::transient(message).with_source(error)
}

/// The delayed task of the reminder of `invoice_id` at `stage`, due at `run_at`: its
/// idempotency key outlives the due moment by a month, so neither a resent invoice nor the
/// recovery of lost reminders publishes it twice.
pub(crate) fn reminder_task(
    invoice_id: &str,
    stage: &str,
    run_at: SystemTime,
) -> Result<Task, TaskError> {
    let reminder = ReminderRef {
        invoice_id: invoice_id.to_owned(),
        stage: stage.to_owned(),
    };
    let ttl = run_at
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .saturating_add(KEY_MARGIN);
    Ok(Task::json(REMINDER_TASK, &reminder)
        .map_err(|e| permanent("the reminder cannot be encoded", e))?
        .run_at(run_at)
        .with_idempotency_key(format!("reminder:{invoice_id}:{stage}"), ttl))
}

fn millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    })
}

#[async_trait]
impl TaskHandler for ReminderHandler {
    async fn handle(&self, task: &Task) -> Result<(), TaskError> {
        match task.name.as_ref() {
            INVOICE_TASK => {
                let (invoice, _) = parse_invoice(&task.payload, self.time_zone)
                    .map_err(|e| permanent("the invoice is refused", e))?;
                self.schedule(&invoice, task.enqueued_at).await
            }
            PAYMENT_TASK => {
                let payment = parse_payment(&task.payload)
                    .map_err(|e| permanent("the payment is refused", e))?;
                let cancelled = self
                    .store
                    .mark_paid(&payment.invoice_id)
                    .await
                    .map_err(transient)?;
                let invoice = plba_util::printable(&payment.invoice_id);
                tracing::info!(%invoice, cancelled, "invoice paid");
                Ok(())
            }
            REMINDER_TASK => {
                let reminder: ReminderRef = task
                    .payload_json()
                    .map_err(|e| permanent("the reminder is not one", e))?;
                self.send(&reminder).await
            }
            other => Err(permanent("unknown task", format!("{other:?}"))),
        }
    }
}

impl ReminderHandler {
    /// Stores the invoice and publishes each stage's reminder, delayed to its time, from
    /// the invoice as stored (the first announcement of its number stands). Stages whose
    /// time had passed when the invoice arrived (`received`: its task's first publish, so a
    /// redelivery after a crash changes nothing) are skipped, but for the latest, which goes
    /// out now: a late invoice gets one reminder, not all at once.
    async fn schedule(&self, announced: &Invoice, received: SystemTime) -> Result<(), TaskError> {
        let added = self.store.add_invoice(announced).await.map_err(transient)?;
        let id = plba_util::printable(&added.invoice.invoice_id).into_owned();
        if added.changed {
            tracing::warn!(invoice = %id, "invoice announced again with other details; the first announcement stands");
        }
        if added.paid {
            tracing::info!(invoice = %id, "invoice already paid: no reminders");
            return Ok(());
        }
        let due = added
            .invoice
            .check(self.time_zone)
            .map_err(|e| permanent("the stored invoice is refused", e))?;
        let received = millis(received);
        let times: Vec<i64> = self
            .stages
            .iter()
            .map(|stage| {
                let after = i64::try_from(stage.after.as_millis()).unwrap_or(i64::MAX);
                due.timestamp_millis().saturating_add(after)
            })
            .collect();
        // Stages are in ascending order (the configuration check insists).
        let latest_past = times.iter().rposition(|&at| at <= received);
        for (index, (stage, &at)) in self.stages.iter().zip(&times).enumerate() {
            let skipped = latest_past.is_some_and(|latest| index < latest);
            self.store
                .schedule(&added.invoice.invoice_id, &stage.name, at, skipped)
                .await
                .map_err(transient)?;
            if skipped {
                continue;
            }
            let run_at = UNIX_EPOCH + Duration::from_millis(u64::try_from(at).unwrap_or(0));
            let task = reminder_task(&added.invoice.invoice_id, &stage.name, run_at)?;
            self.publisher.publish(task).await.map_err(|error| {
                TaskError::transient(format!("a reminder was not scheduled: {error}"))
                    .with_source(error)
            })?;
        }
        tracing::info!(invoice = %id, stages = self.stages.len(), "reminders scheduled");
        Ok(())
    }

    async fn send(&self, reminder: &ReminderRef) -> Result<(), TaskError> {
        let (invoice_id, stage) = (&reminder.invoice_id, &reminder.stage);
        let invoice = match self
            .store
            .claim(invoice_id, stage)
            .await
            .map_err(transient)?
        {
            Claim::Send(invoice) => invoice,
            Claim::Paid | Claim::Done => return Ok(()),
            Claim::Unknown => {
                return Err(permanent(
                    "no such reminder",
                    format!("{invoice_id} / {stage}"),
                ));
            }
        };
        match self.deliver(&invoice, stage).await {
            Ok(()) => {
                self.store
                    .mark_sent(invoice_id, stage)
                    .await
                    .map_err(transient)?;
                let invoice = plba_util::printable(invoice_id);
                tracing::info!(%invoice, stage, "reminder sent");
                Ok(())
            }
            Err(error) if error.is_transient() => Err(error),
            Err(error) => {
                // Recorded, so the console shows it and the recovery of lost reminders
                // leaves it to the operator (its dead letter's replay tries again).
                self.store
                    .mark_failed(invoice_id, stage)
                    .await
                    .map_err(transient)?;
                Err(error)
            }
        }
    }

    /// Renders and sends one reminder; a permanent error when it can never be sent.
    async fn deliver(&self, invoice: &Invoice, stage: &str) -> Result<(), TaskError> {
        let due = invoice
            .check(self.time_zone)
            .map_err(|e| permanent("the stored invoice is refused", e))?;
        let days_overdue = (chrono::Utc::now() - due).num_days().max(0);
        let (subject, body) = self
            .templates
            .render(&ReminderContext {
                invoice_id: &invoice.invoice_id,
                customer: &invoice.customer,
                amount: &invoice.amount,
                currency: &invoice.currency,
                due: &invoice.due,
                stage,
                days_overdue,
            })
            .map_err(|e| permanent("the reminder does not render", plba_util::error_chain(&e)))?;
        let mail = Outgoing {
            to_name: invoice.customer.clone(),
            to_address: invoice.email.clone(),
            subject,
            body,
            message_id: message_id(&invoice.invoice_id, stage, &self.domain),
        };
        self.mailer.send(&mail).await.map_err(|error| {
            if error.is_permanent() {
                permanent(
                    "the mail server refused the reminder",
                    plba_util::error_chain(&error),
                )
            } else {
                transient(error)
            }
        })
    }
}

/// The reminder's Message-ID: the same for every attempt of one invoice's stage, whatever
/// characters the invoice number holds, and short (a digest of both).
pub fn message_id(invoice_id: &str, stage: &str, domain: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(invoice_id.as_bytes())
        .chain_update([0])
        .chain_update(stage.as_bytes())
        .finalize();
    format!("<reminder.{}@{domain}>", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::message_id;

    #[test]
    fn a_message_id_is_short_stable_and_one_per_invoice_and_stage() {
        let long = "\u{1f600}".repeat(200);
        let id = message_id(&long, "first", "example.com");
        assert!(id.len() < 80, "{id}");
        assert_eq!(id, message_id(&long, "first", "example.com"));
        assert_ne!(id, message_id(&long, "second", "example.com"));
        assert_ne!(message_id("a", "bc", "x"), message_id("ab", "c", "x"));
    }
}

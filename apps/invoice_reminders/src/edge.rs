//! The edge: the webhook source with the application's own checks, so a sender learns at
//! once (422) that an invoice or a payment cannot be taken, and a corrected resend is not
//! mistaken for a duplicate of a task that could only fail.

use plba_contracts::Publisher;
use plba_webhook::WebhookSource;

use crate::config::{AppConfig, INVOICE_TASK, PAYMENT_TASK};
use crate::error::ReminderError;
use crate::invoice::{parse_invoice, parse_payment};

/// The webhook source of `config`, publishing through `publisher`, checking invoices and
/// payments as the handler will.
pub(crate) fn webhooks(
    config: &AppConfig,
    publisher: Publisher,
) -> Result<WebhookSource, ReminderError> {
    let time_zone = config.time_zone()?;
    Ok(WebhookSource::new(config.webhooks.clone())
        .queue(publisher)
        .check_payload(INVOICE_TASK, move |body| {
            parse_invoice(body, time_zone)
                .map(drop)
                .map_err(|error| error.to_string())
        })
        .check_payload(PAYMENT_TASK, |body| {
            parse_payment(body)
                .map(drop)
                .map_err(|error| error.to_string())
        }))
}

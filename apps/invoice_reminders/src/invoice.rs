//! What the accounting system announces: an invoice, then perhaps its payment. Checked
//! field by field, so a bad announcement is refused whole with the reason.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// The longest invoice id, customer name or amount accepted, in characters.
const MAX_FIELD: usize = 200;

/// An invoice as the accounting system announces it (`POST` on the invoices route).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invoice {
    /// The accounting system's invoice number.
    pub invoice_id: String,
    /// The customer's name, as the reminder addresses them.
    pub customer: String,
    /// Where reminders go.
    pub email: String,
    /// The amount due, as the invoice states it (`120.00`).
    pub amount: String,
    /// The currency (`EUR`).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// When payment is due: a date (`2026-12-31`, due by the end of that day in the
    /// configured time zone) or an RFC 3339 time (`2026-12-31T12:00:00Z`).
    pub due: String,
}

fn default_currency() -> String {
    "EUR".to_owned()
}

/// A payment of an invoice (`POST` on the payments route): what is still pending for it is
/// cancelled.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// The invoice paid.
    pub invoice_id: String,
}

/// Why an announcement was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidInvoice {
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> InvalidInvoice {
    InvalidInvoice {
        field,
        reason: reason.into(),
    }
}

/// Checks an id, name or amount: present, not too long, nothing a terminal would act on
/// (control characters, bidirectional overrides).
pub(crate) fn check_text(field: &'static str, value: &str) -> Result<(), InvalidInvoice> {
    if value.trim().is_empty() {
        return Err(invalid(field, "is empty"));
    }
    if value.chars().count() > MAX_FIELD {
        return Err(invalid(
            field,
            format!("is longer than {MAX_FIELD} characters"),
        ));
    }
    if plba_util::printable(value) != value {
        return Err(invalid(field, "holds control characters"));
    }
    Ok(())
}

/// Decodes and checks an invoice as announced: the webhook answers a sender with this
/// error before anything is published, and the handler checks again.
pub fn parse_invoice(
    body: &[u8],
    time_zone: chrono_tz::Tz,
) -> Result<(Invoice, DateTime<Utc>), InvalidInvoice> {
    let invoice: Invoice = serde_json::from_slice(body).map_err(|error| {
        invalid(
            "body",
            plba_util::printable(&error.to_string()).into_owned(),
        )
    })?;
    let due = invoice.check(time_zone)?;
    Ok((invoice, due))
}

/// Decodes and checks a payment as announced.
pub fn parse_payment(body: &[u8]) -> Result<Payment, InvalidInvoice> {
    let payment: Payment = serde_json::from_slice(body).map_err(|error| {
        invalid(
            "body",
            plba_util::printable(&error.to_string()).into_owned(),
        )
    })?;
    check_text("invoice_id", &payment.invoice_id)?;
    Ok(payment)
}

impl Invoice {
    /// Checks every field; on success, the moment payment is due.
    pub fn check(&self, time_zone: chrono_tz::Tz) -> Result<DateTime<Utc>, InvalidInvoice> {
        check_text("invoice_id", &self.invoice_id)?;
        check_text("customer", &self.customer)?;
        check_text("amount", &self.amount)?;
        let amount_ok = self
            .amount
            .split_once('.')
            .map_or((self.amount.as_str(), "00"), |(whole, cents)| {
                (whole, cents)
            });
        let digits = |s: &str, max: usize| {
            !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
        };
        if !(digits(amount_ok.0, 15) && digits(amount_ok.1, 2)) {
            return Err(invalid("amount", "is not an amount such as 120.00"));
        }
        if !(self.currency.len() == 3 && self.currency.bytes().all(|b| b.is_ascii_uppercase())) {
            return Err(invalid("currency", "is not a currency code such as EUR"));
        }
        check_text("email", &self.email)?;
        let address = self
            .email
            .parse::<lettre::Address>()
            .map_err(|error| invalid("email", format!("is not an e-mail address ({error})")))?;
        // What lettre parses it may still refuse to send to (an address literal, a quoted
        // local part): the envelope it would build decides, now rather than when it is due.
        let to = lettre::message::Mailbox::new(None, address);
        lettre::Message::builder()
            .from(to.clone())
            .to(to)
            .body(String::new())
            .map_err(|error| invalid("email", format!("cannot be sent to ({error})")))?;
        due_moment(&self.due, time_zone)
    }
}

/// When an invoice due at `due` is overdue: a date's next midnight in `time_zone`, or the
/// RFC 3339 time itself.
fn due_moment(due: &str, time_zone: chrono_tz::Tz) -> Result<DateTime<Utc>, InvalidInvoice> {
    if let Ok(at) = DateTime::parse_from_rfc3339(due) {
        return Ok(at.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(due, "%Y-%m-%d").map_err(|_| {
        invalid(
            "due",
            "is neither a date (2026-12-31) nor an RFC 3339 time (2026-12-31T12:00:00Z)",
        )
    })?;
    let next_day = date
        .succ_opt()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .ok_or_else(|| invalid("due", "is out of range"))?;
    time_zone
        .from_local_datetime(&next_day)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| invalid("due", "does not exist in the configured time zone"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn invoice() -> Invoice {
        Invoice {
            invoice_id: "INV-1".into(),
            customer: "ACME".into(),
            email: "billing@acme.example".into(),
            amount: "120.00".into(),
            currency: "EUR".into(),
            due: "2026-12-31".into(),
        }
    }

    #[test]
    fn a_date_is_due_at_the_end_of_that_day_in_the_time_zone() {
        let due = invoice().check(chrono_tz::Europe::Berlin).unwrap();
        assert_eq!(due.to_rfc3339(), "2026-12-31T23:00:00+00:00");
        let mut timed = invoice();
        timed.due = "2026-12-31T12:00:00Z".into();
        assert_eq!(
            timed.check(chrono_tz::UTC).unwrap().to_rfc3339(),
            "2026-12-31T12:00:00+00:00"
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let field = |change: fn(&mut Invoice)| {
            let mut bad = invoice();
            change(&mut bad);
            bad.check(chrono_tz::UTC).unwrap_err().field
        };
        assert_eq!(field(|i| i.email = "not an address".into()), "email");
        assert_eq!(field(|i| i.amount = "12,5".into()), "amount");
        assert_eq!(field(|i| i.amount = "1.234".into()), "amount");
        assert_eq!(field(|i| i.due = "tomorrow".into()), "due");
        assert_eq!(field(|i| i.customer = "A\u{1b}[31m".into()), "customer");
        assert_eq!(field(|i| i.invoice_id = "x".repeat(201)), "invoice_id");
        assert_eq!(field(|i| i.currency = "euro".into()), "currency");
        assert_eq!(field(|i| i.email = "a@[127.0.0.1]".into()), "email");
        assert_eq!(field(|i| i.customer = "A\u{202e}B".into()), "customer");
    }
}

#[cfg(test)]
mod parse_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_body_that_is_not_an_invoice_is_named_and_its_text_made_printable() {
        let error =
            parse_invoice(br#"{"invoice_id":"J9","\u001b[31m":1}"#, chrono_tz::UTC).unwrap_err();
        assert_eq!(error.field, "body");
        assert!(!error.reason.contains('\u{1b}'), "{error}");
        let error = parse_invoice(
            br#"{"invoice_id":"J9","customer":"C","amount":"1.00","due":"2027-01-01"}"#,
            chrono_tz::UTC,
        )
        .unwrap_err();
        assert!(error.reason.contains("email"), "{error}");
        assert_eq!(
            parse_payment(br#"{"invoice_id":"I-1"}"#)
                .unwrap()
                .invoice_id,
            "I-1"
        );
        assert!(parse_payment(br#"{"invoice_id":""}"#).is_err());
    }
}

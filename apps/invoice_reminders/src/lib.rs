//! invoice_reminders: an accounting system announces invoices by webhook; reminders go out
//! by e-mail at configured stages after the due moment, until the invoice is paid.
//!
//! - An invoice webhook (`POST /hooks/invoices`, signed) becomes an `invoice` task; its
//!   handler stores the invoice and publishes one `reminder` task per stage, delayed to its
//!   time, each with the idempotency key `reminder:<invoice>:<stage>`: a resent webhook or a
//!   redelivered task schedules nothing twice.
//! - A payment webhook (`POST /hooks/payments`) records the payment and cancels the
//!   reminders still scheduled; a reminder that comes due for a paid invoice sends nothing.
//! - A reminder that comes due is rendered from the templates and sent over SMTP, then
//!   recorded `sent`. Its row is marked `sending` first and its Message-ID is the same on
//!   every attempt. Delivery is at least once: when the server's acceptance is not recorded
//!   (a crash or a store failure right after it, an answer lost to a timeout), the retry
//!   sends again with the same Message-ID, which the receiving side can drop. A reminder
//!   the server refuses for good is recorded `failed` and its task dead-lettered.
//! - The store (SQLite for one instance, PostgreSQL for several) is the truth the console's
//!   pages show; on the Redis queue, delayed reminders survive a crash of the process, and
//!   a reminder whose task was lost anyway (the memory queue dies with its process) is
//!   published again once it is `recover_after` overdue.
//! - The webhooks check invoices and payments as the handler will, so a sender is told at
//!   once (422, with the reason) what it must fix.
//!
//! The domain depends on `plba-contracts` and the adapters it picks (memory and Redis
//! queues, the webhook source), never on the runtime.

mod config;
mod edge;
mod error;
mod handler;
mod invoice;
mod mailer;
mod module;
mod recovery;
mod store;
mod template;
mod views;

pub use config::{
    AppConfig, INVOICE_TASK, MODULE, MailConfig, PAYMENT_TASK, QUEUE, QueueConfig, REMINDER_TASK,
    SmtpTls, Stage, StoreConfig, TemplateConfig,
};
pub use error::ReminderError;
pub use handler::message_id;
pub use invoice::{InvalidInvoice, Invoice, Payment, parse_invoice, parse_payment};
pub use module::InvoiceReminders;
pub use recovery::RECOVERY_SCHEDULE;
pub use store::{ReminderStore, StoredInvoice, StoredReminder};

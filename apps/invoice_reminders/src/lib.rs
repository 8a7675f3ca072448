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
//!   every attempt: after a crash between the server's acceptance and the record, the
//!   redelivered task sends again with the same Message-ID, which the receiving side can
//!   drop — the one window where one reminder can arrive twice.
//! - The store (SQLite for one instance, PostgreSQL for several) is the truth the console's
//!   pages show; on the Redis queue, delayed reminders survive a crash of the process.
//!
//! The domain depends on `plba-contracts` and the adapters it picks (memory and Redis
//! queues, the webhook source), never on the runtime.

mod config;
mod error;
mod handler;
mod invoice;
mod mailer;
mod module;
mod store;
mod template;
mod views;

pub use config::{
    AppConfig, MODULE, MailConfig, QUEUE, QueueConfig, Stage, StoreConfig, TemplateConfig,
};
pub use error::ReminderError;
pub use handler::{INVOICE_TASK, PAYMENT_TASK, REMINDER_TASK, message_id};
pub use invoice::{InvalidInvoice, Invoice, Payment};
pub use module::InvoiceReminders;
pub use store::{ReminderStore, StoredInvoice, StoredReminder};

//! Mail sources for PLBA, independent of where mail lives.
//!
//! A source worker (Maildir, IMAP) publishes one task per message whose payload is a
//! [`MailRef`] — where the message is, not the message itself. [`MailTaskHandler`] wraps the
//! domain's [`MailHandler`]: it fetches the message through a [`MailBackend`], hands it to
//! the domain, and completes it only after the outcome is known:
//!
//! | domain outcome | message | task |
//! |---|---|---|
//! | `Ok` | marked seen | acked |
//! | permanent error | marked rejected (flagged / moved), reason logged | dead-lettered |
//! | transient error | left unseen | retried by the queue |
//!
//! [`InFlight`] is the set of messages published and not yet completed, shared by the source
//! and the wrapper, so a message is never published twice while in flight.

mod backend;
mod in_flight;
mod reference;
mod task_handler;

pub use backend::{MailBackend, MailError, MailHandler, RawMail};
pub use in_flight::InFlight;
pub use reference::{MAIL_TASK, MailRef};
pub use task_handler::MailTaskHandler;

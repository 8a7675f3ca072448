//! Mail sources for PLBA, independent of where mail lives.
//!
//! A source worker (Maildir, IMAP) publishes one task per message whose payload is a
//! [`MailRef`] — where the message is, not the message itself. [`MailTaskHandler`] wraps the
//! domain's [`MailHandler`]: it fetches the message through a [`MailBackend`], hands it to
//! the domain, and completes it only after the outcome is known:
//!
//! | domain outcome | message | task |
//! |---|---|---|
//! | `Ok(MailOutcome::Done)` (an order, a duplicate) | marked seen | acked |
//! | `Ok(MailOutcome::Rejected)` (recorded by the domain) | marked rejected (flagged / moved) | acked |
//! | permanent error (nothing recorded: an operator must look) | marked rejected | dead-lettered |
//! | transient error | left unseen | retried by the queue |
//!
//! A rejection is handled work, not a failure: it is acked, logged as one INFO line like
//! every other outcome, and counted by outcome in `plba_mail_outcomes_total`; the dead-letter
//! place holds only what an operator must act on.
//!
//! [`InFlight`] is the set of messages published and not yet completed, shared by the source
//! and the wrapper, so a message is never published twice while in flight.
//!
//! - A message leaves [`InFlight`] after its last attempt however that attempt ends — a
//!   cancelled one too (a time limit, a forced stop), through a guard dropped with the
//!   handler's future — so a later scan publishes it again. The set also remembers when each
//!   message ended: a source that took a [`ScanMark`] before listing does not publish again
//!   a message completed while it walked the listing.
//! - With several processes on one mailbox the last attempt may run elsewhere:
//!   [`InFlight::with_max_age`] lets a source publish a still-unseen message again once that
//!   age has passed. When the queue lost its tasks (a Redis queue says so through its
//!   contents-lost listeners), the application clears the set, so every unseen message is
//!   published again. Either may hand a message to a second handler; handlers are idempotent
//!   on the Message-ID, so that costs only the work.
//! - A source holding a lease renews it while it publishes a long listing
//!   ([`LeaseRenewal`]) and stops publishing once another process holds it.
//! - [`MemoryBudget`] bounds the bytes of mail a process holds at once: a backend reserves a
//!   message's size before reading it and hands the body out as `Bytes` that keep the
//!   reservation until their last clone is dropped, so more workers cannot multiply the
//!   largest mail into an out-of-memory kill.
//! - Completions are idempotent: completing a message that is already complete succeeds,
//!   and a fetch answered [`MailError::Gone`] (completed before, or removed) is taken as
//!   done.
//! - [`SourceLiveness`] records each source's last successful cycle, so a source that runs
//!   but no longer reads mail turns the application unready.

mod backend;
mod budget;
mod in_flight;
mod lease_renewal;
mod liveness;
mod reference;
mod task_handler;

pub use backend::{MailBackend, MailError, MailHandler, MailOutcome, RawMail};
pub use budget::{DEFAULT_MEMORY_BUDGET, MemoryBudget, Reservation};
pub use in_flight::{InFlight, ScanMark};
pub use lease_renewal::LeaseRenewal;
pub use liveness::SourceLiveness;
pub use reference::{MAIL_TASK, MailRef};
pub use task_handler::{MailTaskHandler, OutcomeCounts};

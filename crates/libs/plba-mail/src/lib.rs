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

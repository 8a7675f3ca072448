//! The two sides a mail task meets: the backend that stores mail, the domain that reads it.

use std::time::SystemTime;

use bytes::Bytes;
use plba_contracts::{TaskError, async_trait};

use crate::reference::MailRef;

/// One message as fetched, without side effects on the mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMail {
    /// Where it came from.
    pub reference: MailRef,
    /// The whole RFC 5322 message.
    pub bytes: Bytes,
    /// When the mailbox received it (file time, IMAP INTERNALDATE), if known.
    pub received_at: Option<SystemTime>,
    /// The trace of the task handling it (a W3C trace id), so what the domain records can
    /// point to it; set by the completion wrapper, `None` from a backend.
    pub trace_id: Option<String>,
}

/// Why a backend operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The message is no longer in the mailbox (completed elsewhere, or deleted).
    #[error("message {key} is gone from {mailbox}")]
    Gone {
        /// The mailbox.
        mailbox: String,
        /// The message key.
        key: String,
    },
    /// The message is over the configured size limit; it is never fetched whole.
    #[error("message {key} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// The message key.
        key: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The mailbox could not be reached or changed; retrying may help.
    #[error("mailbox {mailbox}: {what}")]
    Unavailable {
        /// The mailbox.
        mailbox: String,
        /// What was being done.
        what: String,
        /// Why it failed (the I/O or protocol error), kept for inspection.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Where messages live: fetch one, and complete it once its outcome is known.
///
/// # Protocol
///
/// [`fetch`](Self::fetch) has no side effect (the message stays unseen). After the domain's
/// outcome, exactly one of [`mark_seen`](Self::mark_seen) (success) or
/// [`mark_rejected`](Self::mark_rejected) (permanent failure) is called; a transient failure
/// calls neither. Both are idempotent: completing a message that is already complete
/// succeeds, because a completion can be retried after a crash.
///
/// A completed message is no longer new: the source does not list it again, and a later
/// `fetch` answers [`MailError::Gone`], which the completion wrapper takes as done. So does a
/// message someone else removed; completing one succeeds, as nothing is left to mark. Calls
/// may come concurrently (a pool's handlers), and each gets its own answer. Every backend
/// runs the `MailBackend` conformance suite of the test kit, which checks all of this.
#[async_trait]
pub trait MailBackend: Send + Sync + 'static {
    /// Reads the message.
    async fn fetch(&self, reference: &MailRef) -> Result<RawMail, MailError>;

    /// Marks the message seen (done).
    async fn mark_seen(&self, reference: &MailRef) -> Result<(), MailError>;

    /// Marks the message as failed for good (flagged or moved aside, never deleted).
    async fn mark_rejected(&self, reference: &MailRef, reason: &str) -> Result<(), MailError>;
}

/// What the domain made of one message, once its outcome is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailOutcome {
    /// Handled: the message is marked seen. `label` names the outcome in metrics and logs
    /// (`order`, `duplicate`: a small fixed set, not data); `summary` is the log line.
    Done {
        /// The outcome's name.
        label: &'static str,
        /// What happened, for the log line.
        summary: String,
    },
    /// The message can never become what the domain wants, and the domain has recorded why:
    /// the message is marked rejected (flagged or moved) and the task acked.
    Rejected {
        /// Why, for the mailbox and the log line.
        reason: String,
    },
}

impl MailOutcome {
    /// A handled message with outcome `label`.
    pub fn done(label: &'static str, summary: impl Into<String>) -> Self {
        Self::Done {
            label,
            summary: summary.into(),
        }
    }

    /// A rejection the domain has recorded.
    pub fn rejected(reason: impl Into<String>) -> Self {
        Self::Rejected {
            reason: reason.into(),
        }
    }
}

/// The domain's side: turns one message into a business outcome.
///
/// `Ok` means the outcome is stored (an order, or a recorded rejection); a permanent error
/// means the message can never succeed and nothing was recorded, so an operator must look
/// (it is dead-lettered); a transient error means "try again later".
#[async_trait]
pub trait MailHandler: Send + Sync + 'static {
    /// Handles one message.
    async fn handle_mail(&self, mail: &RawMail) -> Result<MailOutcome, TaskError>;

    /// Records that the message at `reference` is rejected without being read (it is over
    /// the size limit), so every message ends with an outcome the domain recorded. An error
    /// leaves the message unseen for a retry. The default records nothing.
    async fn record_unread(&self, reference: &MailRef, reason: &str) -> Result<(), TaskError> {
        let _ = (reference, reason);
        Ok(())
    }
}

//! IMAP mail sources for PLBA (polling and IDLE), plugging into the same completion mechanism as
//! the Maildir source: the domain never sees IMAP.
//!
//! - [`ImapMailbox`] is the [`MailBackend`](plba_mail::MailBackend): `UID FETCH … BODY.PEEK[]`
//!   without side effects (size checked first), `UID STORE +FLAGS (\Seen)` on success, and
//!   `\Flagged` or `UID MOVE` to a folder on a permanent failure. Completions use their own
//!   connection, serialised, reconnecting when it breaks.
//! - [`ImapSource`] is the worker, polling or with IDLE ([`ImapMode`]): `UID SEARCH UNSEEN`,
//!   one task per message not in flight (mailbox, UIDVALIDITY and UID in the payload); a UIDVALIDITY change
//!   resets the in-flight set; connection errors reconnect with exponential backoff, health
//!   degraded meanwhile and unhealthy after a configured outage.
//!
//! Connections use implicit TLS by default, or STARTTLS, verified against the system's roots
//! or a configured CA file (rustls); plain text only when the configuration says so.

mod mailbox;
mod options;
mod session;
mod source;
mod stream;

pub use mailbox::{FETCH_BUDGET_BYTES, ImapMailbox};
pub use options::{ImapError, ImapOptions, Security};
pub use source::{ImapMode, ImapSource};

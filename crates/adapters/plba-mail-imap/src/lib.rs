//! IMAP mail sources for PLBA (polling and IDLE), plugging into the same completion mechanism as
//! the Maildir source: the domain never sees IMAP.
//!
//! - [`ImapMailbox`] is the [`MailBackend`](plba_mail::MailBackend): `UID FETCH … BODY.PEEK[]`
//!   without side effects (size checked first), `UID STORE +FLAGS (\Seen)` on success, and
//!   `\Flagged` or `UID MOVE` to a folder on a permanent failure.
//! - [`ImapSource`] is the worker, polling or with IDLE ([`ImapMode`]): `UID SEARCH UNSEEN`,
//!   one task per message not in flight (mailbox, UIDVALIDITY and UID in the payload); a UIDVALIDITY change
//!   resets the in-flight set; connection errors reconnect with exponential backoff, health
//!   degraded meanwhile and unhealthy after a configured outage.
//!
//! Connections use implicit TLS by default, or STARTTLS, verified against the system's roots
//! or a configured CA file (rustls); plain text only when the configuration says so.
//!
//! # Batches and connections
//!
//! The mailbox keeps two connections, opened on first use or, for a source made with
//! [`ImapSource::connecting_ahead`], beside the source's first connection (so the first mail
//! does not wait for two more logins and `SELECT`s in turn): fetches run on one, completions
//! on the other, so marking messages seen never holds up the next fetch. Concurrent calls
//! are batched (`mailbox/batch.rs`, through `GroupCommit`, up to 256 messages a batch:
//! more mails in flight make fewer, larger commands, and a server such as Dovecot syncs
//! its index once per command): the fetches waiting together share one `UID FETCH` of their `RFC822.SIZE` and as few
//! `BODY.PEEK[]` round trips as the memory budget allows (at most [`FETCH_BUDGET_BYTES`] of
//! mail each; a larger message comes alone); the messages marked seen together — or
//! flagged together, when no rejected folder is configured — share one `UID STORE`. A
//! rejection into a folder runs alone on the completion connection: `UID MOVE`, or `UID
//! COPY` + `\Deleted` + `UID EXPUNGE` of that one UID on a server without MOVE.
//!
//! A batch that fails on a connection kept from before is tried once more on a fresh one
//! (fetching and adding flags change nothing twice); if it fails again, each message is
//! tried alone, so one message the server refuses fails only its own call. A failure drops
//! the connection, and every call of a batch gets its own answer. Each connection selects
//! the folder again when a message names another UIDVALIDITY; a message from before a
//! UIDVALIDITY change can no longer be addressed and is answered gone, while the source
//! publishes the folder again under the new validity.
//!
//! Every step of connecting and logging in (`session.rs`) and every command runs under
//! `command_timeout_ms` (async-imap has no timeouts of its own); `stream.rs` is plain TCP or
//! rustls TLS.
//!
//! # Invariants
//!
//! - Fetching never sets `\Seen`. A message found already `\Seen` when fetched is taken as
//!   done (a scan that raced its completion published it again).
//! - A message is taken for gone only after the fetch connection synced (`NOOP`) and still
//!   does not see it; a flag is taken as set only when the completion connection answered
//!   for the message (else it syncs and sets it again).
//! - A message is keyed by (mailbox, UIDVALIDITY, UID).
//! - IDLE is re-issued before `idle_max_ms` (28 minutes by default, under the 29 the RFC
//!   allows); a change announced while entering IDLE starts a rescan at once, a flag or
//!   expunge notice does not, and the interrupt handle stays bound while waiting.
//! - With a `Lease` the source scans only while it holds it, keeps no connection otherwise,
//!   and renews it at least every renewal interval, IDLE included.
//! - A stop never waits for a slow server.

mod mailbox;
mod options;
mod session;
mod source;
mod stream;

pub use mailbox::{FETCH_BUDGET_BYTES, ImapMailbox};
pub use options::{ImapError, ImapOptions, Security};
pub use source::{ImapMode, ImapSource};

//! A Maildir mail source: the embedded default of PLBA mail applications.
//!
//! - [`Maildir`] is the [`MailBackend`](plba_mail::MailBackend): messages are files in `new/`;
//!   "seen" moves a file to `cur/` with the `S` flag; "rejected" adds `F` (flagged), or moves
//!   the message into a configured Maildir++ sub-folder. Nothing is ever deleted.
//! - [`MaildirSource`] is the worker that publishes one task per message in `new/`, woken
//!   by inotify when a message arrives and rescanning periodically, so nothing is missed
//!   after a restart or a lost notification.
//!
//! Delivery ([`Maildir::deliver`]) writes into `tmp/` and renames into `new/`, so a reader
//! never sees half a message. A message larger than `max_message_bytes` is never read
//! whole, and the bodies read at once stay within `memory_budget_bytes`.
//!
//! Repair and watching: the source watches `new/` for arrivals and every directory of the
//! Maildir for its own deletion or move. Before each scan it puts the Maildir back in
//! shape: it recreates missing directories when `create` is on, and watches again — tried
//! every second while it cannot — when the watch was lost or `new/` is another inode than
//! the watched one (the Maildir was replaced). A fresh watch is followed by a scan, so a
//! Maildir deleted, moved away or replaced is watched again within a second of existing
//! again, and nothing that arrived meanwhile waits for a rescan.
//!
//! A file in `new/` whose name is not UTF-8 is renamed once to a UTF-8 name (each invalid
//! byte written `%XX`; the new name is linked first, so no file is ever replaced) and
//! processed like any other; one that cannot be renamed is reported once and skipped. A
//! scan failure is logged once per distinct error, not on every rescan. With a `Lease` the
//! source polls only while it holds it, so several processes can share one mailbox.

mod maildir;
mod source;

pub use maildir::{Maildir, MaildirError, MaildirOptions};
pub use source::MaildirSource;

//! A Maildir mail source: the embedded default of PLBA mail applications.
//!
//! - [`Maildir`] is the [`MailBackend`](plba_mail::MailBackend): messages are files in `new/`;
//!   "seen" moves a file to `cur/` with the `S` flag; "rejected" adds `F` (flagged), or moves
//!   the message into a configured Maildir++ sub-folder. Nothing is ever deleted.
//! - [`MaildirSource`] is the worker that publishes one task per message in `new/`, woken
//!   by inotify when a message arrives and rescanning periodically, so nothing is missed
//!   after a restart or a lost notification.

mod maildir;
mod source;

pub use maildir::{Maildir, MaildirError, MaildirOptions};
pub use source::MaildirSource;

//! Failures as one line of text for logs, status and health: an error with all its causes,
//! a caught panic (a failure of one task or worker, reported like any other error, never a
//! crash of the process).

use std::any::Any;
use std::error::Error;
use std::fmt::Write;

/// `error` and every cause under it, joined by `: ` — what an operator needs on one line.
/// Errors keep their causes as sources (`#[source]`) instead of pasting them into their own
/// message, so each cause appears once.
///
/// ```
/// let io = std::io::Error::other("disk full");
/// let outer = std::io::Error::new(std::io::ErrorKind::Other, io);
/// assert_eq!(plba_util::error_chain(&outer), "disk full");
/// ```
pub fn error_chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors (io::Error wrapping another) display their cause as themselves.
        if !text.ends_with(&cause_text) {
            let _ = write!(text, ": {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// The panic's message when its payload is a string (as `panic!` with a message makes it),
/// else a placeholder.
///
/// ```
/// let caught = std::panic::catch_unwind(|| panic!("boom {}", 7)).unwrap_err();
/// assert_eq!(plba_util::panic_message(caught.as_ref()), "boom 7");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

//! Turning a caught panic into text: a panic is a failure of one task or worker, reported
//! like any other error, never a crash of the process.

use std::any::Any;

/// The panic's message when its payload is a string (as `panic!` with a message makes it),
/// else a placeholder.
///
/// ```
/// let caught = std::panic::catch_unwind(|| panic!("boom {}", 7)).unwrap_err();
/// assert_eq!(plba_contracts::panic_message(caught.as_ref()), "boom 7");
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

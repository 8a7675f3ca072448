//! Standard output for the commands. `println!` panics when the reader has gone away
//! (`mail_order_bot orders list | head -2`); these return the error instead, and the
//! launcher then ends the command quietly with status 141, as a tool killed by SIGPIPE
//! does (a shell with `pipefail` sees that the output was cut short). A command that does
//! work as it reports it (`deliver`) ignores the error and finishes the work.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// The exit status of a command whose output found its reader gone: 128 + SIGPIPE.
pub(crate) const READER_GONE_EXIT: u8 = 141;

/// Set once a write found standard output closed by its reader.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `args` and, when `newline`, a line end to standard output; what [`outln!`] and
/// [`out!`] call.
///
/// [`outln!`]: crate::outln
/// [`out!`]: crate::out
pub fn write_stdout(args: std::fmt::Arguments<'_>, newline: bool) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_fmt(args).and_then(|()| {
        if newline {
            stdout.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if let Err(error) = &written
        && error.kind() == std::io::ErrorKind::BrokenPipe
    {
        CLOSED.store(true, Ordering::Relaxed);
    }
    written
}

/// Whether a command's output found its reader gone: its error is then no failure to
/// report.
pub(crate) fn reader_gone() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// `println!` for a command's output: returns an `io::Result` to pass on with `?`, so a
/// reader that closes the pipe ends the command quietly instead of with a panic.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::launcher::write_stdout(::std::format_args!($($arg)*), true)
    };
}

/// `print!` for a command's output, as [`outln!`](crate::outln).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::launcher::write_stdout(::std::format_args!($($arg)*), false)
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_written_line_is_no_closed_reader() {
        crate::outln!("a line from the output test").unwrap_or_default();
        assert!(!super::reader_gone());
    }
}

//! The launchers keep the process's memory in ordinary pages.
//!
//! mimalloc ([`crate::Allocator`]) asks the kernel for transparent huge pages for its
//! regions. Where the kernel grants them (THP `always` or `madvise`, the defaults of most
//! distributions), the first touch of a region zeroes and holds 2 MiB at once, and every
//! thread's heap touches regions of its own. For a service whose heap is a few megabytes
//! that is memory held for nothing and start-up time spent zeroing it: `mail_order_bot` on
//! its embedded default peaks at 22 MB of resident memory without them and 34 MB with, and
//! zeroing huge pages was 16 % of its CPU samples before its first mail over IMAP
//! (`docs/benchmarks.md`, the mail bench).
//!
//! The regions mimalloc set up before `main` (a few MiB) may stay in huge pages: nothing
//! without `unsafe` runs earlier. [`Launcher::launch`](super::Launcher::launch) turns them
//! off before the runtime's threads exist, so none of theirs are.
//!
//! An operator who wants them anyway says so as mimalloc reads it:
//! `MIMALLOC_ALLOW_THP=1` (any value of that variable leaves the choice to mimalloc).

/// The variable mimalloc reads for the same choice; when set, it decides.
const MIMALLOC_ALLOW_THP: &str = "MIMALLOC_ALLOW_THP";

/// Turns transparent huge pages off for this process (threads included), unless
/// `MIMALLOC_ALLOW_THP` is set. Best effort: a kernel without the setting changes nothing.
pub(super) fn keep_to_small_pages() {
    if std::env::var_os(MIMALLOC_ALLOW_THP).is_some() {
        return;
    }
    // Only a kernel without the setting refuses, and there is nothing to turn off there.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

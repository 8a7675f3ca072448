//! Who this process is in Redis: names unique to each process start, for consumer names in
//! the group, lease holders and the queue's epoch tokens.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// `host-pid-start-n`: unique per process start (so a restarted process never inherits a
/// dead one's pending entries or lease by name) and per call within the process (so two
/// queues opened on the same name in one process are two consumers, each rescuing only its
/// own orphans). Readable in `XINFO CONSUMERS` and in lease keys.
pub(crate) fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}", process())
}

/// `host-pid-start`, computed once per process.
fn process() -> &'static str {
    static PROCESS: OnceLock<String> = OnceLock::new();
    PROCESS.get_or_init(|| {
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        // A missing hostname file only makes the name less readable, not less unique.
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".to_owned());
        format!("{host}-{}-{start:x}", std::process::id())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_share_the_process_part_and_never_repeat() {
        let (a, b) = (unique_name(), unique_name());
        assert_ne!(a, b);
        assert!(a.starts_with(process()) && b.starts_with(process()));
        assert!(a.contains(&format!("-{}-", std::process::id())), "{a}");
    }
}

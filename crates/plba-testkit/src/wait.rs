//! Waiting for a condition with a deadline instead of sleeping for a guessed time.

use std::future::Future;
use std::time::Duration;

/// How often [`eventually`] re-checks its condition.
const POLL_EVERY: Duration = Duration::from_millis(5);

/// Polls `condition` until it holds; panics with `what` when `deadline` passes first.
pub async fn eventually(deadline: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let result = tokio::time::timeout(deadline, async {
        while !condition() {
            tokio::time::sleep(POLL_EVERY).await;
        }
    })
    .await;
    assert!(
        result.is_ok(),
        "timed out after {deadline:?} waiting for: {what}"
    );
}

/// Like [`eventually`] with an async condition.
pub async fn eventually_async<F, Fut>(deadline: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let result = tokio::time::timeout(deadline, async {
        while !condition().await {
            tokio::time::sleep(POLL_EVERY).await;
        }
    })
    .await;
    assert!(
        result.is_ok(),
        "timed out after {deadline:?} waiting for: {what}"
    );
}

/// Awaits `future`, panicking with `what` if it takes longer than `deadline`.
pub async fn within<T>(deadline: Duration, what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(deadline, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {deadline:?}: {what}"),
    }
}

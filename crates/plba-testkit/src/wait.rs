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

/// Waits until the value watched through `changes` equals `wanted` (a runtime's lifecycle
/// state, say: `reach(&mut runtime.subscribe_state(), RuntimeState::Running, …)`); panics
/// with `what` after `deadline`.
pub async fn reach<T: PartialEq + std::fmt::Debug>(
    changes: &mut tokio::sync::watch::Receiver<T>,
    wanted: T,
    deadline: Duration,
    what: &str,
) {
    let reached = within(deadline, what, changes.wait_for(|now| *now == wanted)).await;
    assert!(
        reached.is_ok(),
        "{what}: the watched value's sender is gone"
    );
}

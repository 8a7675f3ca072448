//! "Any `Limiter` must…": the conformance suite every limiter runs, through [`run_all`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use plba_contracts::{Admission, Limiter, Limits, Rate};

/// The limits the suite's limiter must be built with: 10 starts a second per key in bursts
/// of 3, and 2 at once.
pub const SUITE_LIMITS: Limits = Limits {
    rate: Some(Rate::per_second(10).with_burst(3)),
    concurrency: Some(2),
};

/// Runs every check of the suite, each on a fresh limiter from `limiter` (enforcing
/// [`SUITE_LIMITS`]); `prefix` keeps this run's keys apart from others on a shared backend.
/// Limiters run the suite through this, so a check added here runs for every one of them
/// (the test kit's own tests fail when a check is left out).
pub async fn run_all(limiter: impl Fn() -> Arc<dyn Limiter>, prefix: &str) {
    limits_hold_per_key(limiter(), prefix).await;
    the_rate_holds_over_time(limiter(), prefix).await;
}

async fn granted(limiter: &dyn Limiter, key: &str) -> Option<plba_contracts::Permit> {
    match limiter.acquire(key).await.expect("the limiter answers") {
        Admission::Granted(permit) => Some(permit),
        Admission::Wait(_) => None,
    }
}

/// A burst, then the spacing; slots are counted and given back; keys do not share.
/// `limiter` enforces [`SUITE_LIMITS`]; `prefix` keeps this run's keys apart.
pub async fn limits_hold_per_key(limiter: Arc<dyn Limiter>, prefix: &str) {
    let key = format!("{prefix}-a");
    let first = granted(&*limiter, &key).await.expect("first start");
    let second = granted(&*limiter, &key)
        .await
        .expect("second start: the burst");
    // Both slots are taken: the third waits for one, though the burst of 3 would let it.
    assert!(
        matches!(limiter.acquire(&key).await.unwrap(), Admission::Wait(_)),
        "a third start while two run"
    );
    // Another key is not held back by this one.
    let other = granted(&*limiter, &format!("{prefix}-b"))
        .await
        .expect("another key starts");
    // A slot given back is a slot to take: the burst's third start.
    limiter.release(&first).await.unwrap();
    let third = granted(&*limiter, &key)
        .await
        .expect("a start once a slot is given back");
    limiter.release(&second).await.unwrap();
    limiter.release(&third).await.unwrap();
    limiter.release(&other).await.unwrap();
    // A slot is free now, but the burst is spent: the rate makes it wait at most a spacing.
    let started = Instant::now();
    let wait = match limiter.acquire(&key).await.unwrap() {
        Admission::Wait(wait) => wait,
        Admission::Granted(permit) => {
            // The spacing may already have passed on a slow machine.
            limiter.release(&permit).await.unwrap();
            return;
        }
    };
    assert!(wait <= Duration::from_millis(100), "waits {wait:?}");
    tokio::time::sleep(wait).await;
    let fourth = loop {
        if let Some(permit) = granted(&*limiter, &key).await {
            break permit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the spacing passed but no start was granted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    limiter.release(&fourth).await.unwrap();
}

/// Starts over two seconds of asking as fast as possible: about the rate's worth, never
/// more than the burst beyond it.
pub async fn the_rate_holds_over_time(limiter: Arc<dyn Limiter>, prefix: &str) {
    let key = format!("{prefix}-steady");
    let started = Instant::now();
    let mut starts = 0u32;
    while started.elapsed() < Duration::from_secs(2) {
        match limiter.acquire(&key).await.unwrap() {
            Admission::Granted(permit) => {
                starts += 1;
                limiter.release(&permit).await.unwrap();
            }
            Admission::Wait(wait) => tokio::time::sleep(wait.min(Duration::from_millis(50))).await,
        }
    }
    // 10 a second over 2 s, plus the burst of 3, plus one at the boundary.
    assert!((18..=24).contains(&starts), "{starts} starts in 2 s");
}

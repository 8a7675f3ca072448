//! A [`Limiter`] in the process's memory: the limits hold within one process (a memory
//! queue's consumers); for several processes use a shared one (`RedisLimiter`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use plba_contracts::{Admission, LimitError, Limiter, Limits, Permit, async_trait};
use plba_util::Unpoisoned;

/// How long a task waits for a concurrency slot before asking again: slots free when tasks
/// end, which nothing here can foresee.
pub const SLOT_RETRY: Duration = Duration::from_millis(200);

#[derive(Debug, Default)]
struct KeyState {
    /// GCRA's theoretical arrival time: when the next start is due at the steady rate.
    due: Option<Instant>,
    /// The next slot handed to a refused start, so those refused together come back one
    /// interval apart.
    backlog: Option<Instant>,
    running: u32,
}

/// Rate (GCRA) and concurrency limits per key, in memory.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use plba_contracts::{Admission, Limiter, Limits, Rate};
/// use plba_workers::LocalLimiter;
///
/// let limiter = LocalLimiter::new(Limits { rate: Some(Rate::per_second(1)), concurrency: None });
/// assert!(matches!(limiter.acquire("acme").await.unwrap(), Admission::Granted(_)));
/// assert!(matches!(limiter.acquire("acme").await.unwrap(), Admission::Wait(_)));
/// // Another key is not held back by the first.
/// assert!(matches!(limiter.acquire("globex").await.unwrap(), Admission::Granted(_)));
/// # });
/// ```
#[derive(Debug)]
pub struct LocalLimiter {
    limits: Limits,
    keys: Mutex<HashMap<String, KeyState>>,
}

impl LocalLimiter {
    /// A limiter enforcing `limits` for each key.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            keys: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl Limiter for LocalLimiter {
    async fn acquire(&self, key: &str) -> Result<Admission, LimitError> {
        let now = Instant::now();
        let mut keys = self.keys.lock_or_recover();
        // Forget keys at rest now and then, so the map holds about the keys in use.
        if keys.len() >= 1024 && keys.len().is_power_of_two() {
            keys.retain(|_, state| {
                state.running > 0
                    || state.due.is_some_and(|d| d > now)
                    || state.backlog.is_some_and(|b| b > now)
            });
        }
        let state = keys.entry(key.to_owned()).or_default();
        if let Some(limit) = self.limits.concurrency
            && state.running >= limit
        {
            return Ok(Admission::Wait(SLOT_RETRY));
        }
        if let Some(rate) = self.limits.rate {
            let due = state.due.map_or(now, |due| due.max(now));
            let earliest = due.checked_sub(rate.tolerance()).unwrap_or(now);
            if earliest > now {
                let slot = state.backlog.map_or(earliest, |b| b.max(earliest));
                state.backlog = Some(slot + rate.interval());
                return Ok(Admission::Wait(slot - now));
            }
            state.due = Some(due + rate.interval());
        }
        let token = self.limits.concurrency.map(|_| {
            state.running += 1;
            "local".to_owned()
        });
        Ok(Admission::Granted(Permit::new(key, token)))
    }

    async fn release(&self, permit: &Permit) -> Result<(), LimitError> {
        if permit.token().is_some()
            && let Some(state) = self.keys.lock_or_recover().get_mut(permit.key())
        {
            state.running = state.running.saturating_sub(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use plba_contracts::Rate;

    use super::*;

    #[tokio::test]
    async fn a_burst_then_the_steady_rate() {
        let limiter = LocalLimiter::new(Limits {
            rate: Some(Rate::per_second(10).with_burst(3)),
            concurrency: None,
        });
        for _ in 0..3 {
            assert!(matches!(
                limiter.acquire("k").await.unwrap(),
                Admission::Granted(_)
            ));
        }
        let Admission::Wait(wait) = limiter.acquire("k").await.unwrap() else {
            panic!("the fourth start in a burst of three waits");
        };
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        // Refused together, they are given slots one interval apart.
        let Admission::Wait(next) = limiter.acquire("k").await.unwrap() else {
            panic!("the fifth start waits too");
        };
        assert!(
            next >= wait + Duration::from_millis(99),
            "{wait:?} then {next:?}"
        );
    }

    #[tokio::test]
    async fn a_slot_frees_when_its_permit_is_released() {
        let limiter = LocalLimiter::new(Limits {
            rate: None,
            concurrency: Some(1),
        });
        let Admission::Granted(permit) = limiter.acquire("k").await.unwrap() else {
            panic!("the first start is granted");
        };
        assert_eq!(
            limiter.acquire("k").await.unwrap(),
            Admission::Wait(SLOT_RETRY)
        );
        assert!(matches!(
            limiter.acquire("other").await.unwrap(),
            Admission::Granted(_)
        ));
        limiter.release(&permit).await.unwrap();
        assert!(matches!(
            limiter.acquire("k").await.unwrap(),
            Admission::Granted(_)
        ));
    }
}

#[cfg(test)]
mod conformance {
    use std::sync::Arc;

    use plba_contracts::Limiter;
    use plba_testkit::limit::{SUITE_LIMITS, run_all};

    use super::LocalLimiter;

    #[tokio::test]
    async fn the_local_limiter_conforms() {
        run_all(
            || -> Arc<dyn Limiter> { Arc::new(LocalLimiter::new(SUITE_LIMITS)) },
            "local",
        )
        .await;
    }
}

//! Waiting out a Redis outage: the pause between the tries of a loop that must not give up
//! (a consumer's read, the ack writer), from the platform's [`Backoff`].

use std::time::Duration;

use plba_contracts::{Backoff, Jitter};

/// The pauses of a loop waiting for Redis to come back: 50 ms doubling up to a second, so
/// the loop notices the return within a second. Equal jitter spreads them, so the loops of
/// many bots do not reconnect in one wave, and keeps each at least half its delay, so none
/// spins.
pub(crate) const OUTAGE_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(50), Duration::from_secs(1)).with_jitter(Jitter::Equal);

/// The consecutive failed tries of one loop, and the pause before its next try.
#[derive(Debug)]
pub(crate) struct OutagePause {
    backoff: Backoff,
    failures: u32,
}

impl OutagePause {
    /// No failure yet: the first pause is the backoff's first delay.
    pub(crate) const fn new(backoff: Backoff) -> Self {
        Self {
            backoff,
            failures: 0,
        }
    }

    /// Counts a failed try and sleeps the backoff's delay for it.
    pub(crate) async fn after_failure(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }

    /// Counts a failed try and answers how long to pause for it.
    fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.backoff.delay(self.failures)
    }

    /// A try succeeded: the next failure pauses the first delay again.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pause a loop sleeps starts at 50 ms and reaches a second by the sixth failure,
    /// never under half its step; a success starts it over.
    #[test]
    fn pauses_double_to_a_second_and_start_over_after_a_success() {
        let mut pause = OutagePause::new(OUTAGE_BACKOFF);
        let delays: Vec<Duration> = (0..8).map(|_| pause.next_delay()).collect();
        let ceilings = [50, 100, 200, 400, 800, 1000, 1000, 1000].map(Duration::from_millis);
        for (delay, ceiling) in delays.iter().zip(ceilings) {
            assert!(
                *delay >= ceiling / 2 && *delay <= ceiling,
                "{delay:?} outside [{:?}, {ceiling:?}]",
                ceiling / 2
            );
        }
        pause.reset();
        assert!(pause.next_delay() <= Duration::from_millis(50));
    }
}

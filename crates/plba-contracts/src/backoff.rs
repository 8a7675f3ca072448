//! Exponential backoff with jitter, for task retries and reconnect loops.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How a [`Backoff`] spreads its delays.
///
/// Without jitter, every consumer that failed at the same moment (a database restart, a
/// Redis failover) retries at the same moment too, and the retries arrive as one wave that
/// can knock the dependency over again. Jitter turns the wave into a spread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Jitter {
    /// Exactly the exponential delay (for tests, or when something else spreads the load).
    None,
    /// "Full jitter": a delay drawn uniformly between zero and the exponential delay. The
    /// best spread for the least total waiting; the default.
    #[default]
    Full,
    /// "Equal jitter": half the exponential delay, plus up to the other half at random. Never
    /// shorter than half the delay, for loops that must not come back at once.
    Equal,
}

impl Jitter {
    /// `delay` spread by this jitter: what a hand-written reconnect loop that doubles its own
    /// pause sleeps.
    ///
    /// ```
    /// use std::time::Duration;
    /// use plba_contracts::Jitter;
    ///
    /// let pause = Jitter::Full.spread(Duration::from_millis(400));
    /// assert!(pause <= Duration::from_millis(400));
    /// ```
    pub fn spread(self, delay: Duration) -> Duration {
        self.spread_at(delay, random_unit())
    }

    /// [`spread`](Self::spread) for a given random draw `unit` in `[0, 1]`.
    pub fn spread_at(self, delay: Duration, unit: f64) -> Duration {
        // NaN is no draw at all: take it as zero rather than let `mul_f64` panic.
        let unit = if unit.is_nan() {
            0.0
        } else {
            unit.clamp(0.0, 1.0)
        };
        match self {
            Self::None => delay,
            Self::Full => delay.mul_f64(unit),
            Self::Equal => {
                let half = delay / 2;
                half + (delay - half).mul_f64(unit)
            }
        }
    }
}

/// Exponential backoff: up to `initial * 2^(n-1)` before try number `n + 1`, capped at `max`,
/// spread by `jitter` (full jitter unless asked otherwise).
///
/// ```
/// use std::time::Duration;
/// use plba_contracts::{Backoff, Jitter};
///
/// let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
/// assert_eq!(backoff.ceiling(1), Duration::from_millis(100));
/// assert_eq!(backoff.ceiling(3), Duration::from_millis(400));
/// assert_eq!(backoff.ceiling(30), Duration::from_secs(1));
/// // With full jitter, a delay falls anywhere up to the ceiling.
/// assert!(backoff.delay(3) <= Duration::from_millis(400));
/// // Without it, the delay is the ceiling.
/// let exact = backoff.with_jitter(Jitter::None);
/// assert_eq!(exact.delay(3), Duration::from_millis(400));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct Backoff {
    /// The first delay.
    #[serde(with = "humantime_millis")]
    pub initial: Duration,
    /// The largest delay.
    #[serde(with = "humantime_millis")]
    pub max: Duration,
    /// How delays are spread.
    #[serde(default)]
    pub jitter: Jitter,
}

impl Backoff {
    /// A backoff from `initial` doubling up to `max`, with full jitter.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            jitter: Jitter::Full,
        }
    }

    /// The same backoff, spread by `jitter` instead.
    #[must_use]
    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay after the `n`-th consecutive failure (`n` starts at 1), jitter applied.
    pub fn delay(&self, n: u32) -> Duration {
        self.delay_at(n, random_unit())
    }

    /// The delay after the `n`-th failure for a given random draw `unit` in `[0, 1]`:
    /// [`delay`](Self::delay) with the randomness taken out, for tests and simulations.
    pub fn delay_at(&self, n: u32, unit: f64) -> Duration {
        self.jitter.spread_at(self.ceiling(n), unit)
    }

    /// The longest delay after the `n`-th failure: the exponential delay before jitter.
    pub fn ceiling(&self, n: u32) -> Duration {
        let exponent = n.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << exponent).min(self.max)
    }
}

/// A uniform draw in `[0, 1)` from a per-thread generator (SplitMix64) seeded by the OS
/// through `RandomState`: backoff needs spread, not secrecy, and this keeps the contracts
/// free of a random-number crate.
fn random_unit() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::collections::hash_map::RandomState::new().build_hasher().finish(),
        );
    }
    let mut z = STATE.with(|state| {
        let next = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(next);
        next
    });
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // The top 53 bits make an exact f64 in [0, 1); the cast loses nothing.
    #[allow(clippy::cast_precision_loss)]
    let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
    unit
}

mod humantime_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    /// Durations in config are whole milliseconds.
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_spreads_delays_over_the_whole_ceiling() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let delays: Vec<Duration> = (0..1000).map(|_| backoff.delay(4)).collect();
        let ceiling = Duration::from_secs(8);
        assert!(delays.iter().all(|d| *d <= ceiling));
        let low = delays.iter().filter(|d| **d < ceiling / 4).count();
        let high = delays.iter().filter(|d| **d > ceiling * 3 / 4).count();
        // Uniform: about 250 each; lockstep would put all 1000 in one place.
        assert!(
            (150..350).contains(&low),
            "{low} delays in the lowest quarter"
        );
        assert!(
            (150..350).contains(&high),
            "{high} delays in the highest quarter"
        );
    }

    #[test]
    fn equal_jitter_never_goes_below_half() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10))
            .with_jitter(Jitter::Equal);
        assert_eq!(backoff.delay_at(2, 0.0), Duration::from_millis(100));
        assert_eq!(backoff.delay_at(2, 1.0), Duration::from_millis(200));
        assert!((0..100).all(|_| backoff.delay(2) >= Duration::from_millis(100)));
    }

    #[test]
    fn no_jitter_is_the_plain_exponential() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1))
            .with_jitter(Jitter::None);
        assert_eq!(backoff.delay(1), Duration::from_millis(100));
        assert_eq!(backoff.delay(4), Duration::from_millis(800));
        assert_eq!(backoff.delay(40), Duration::from_secs(1));
    }

    #[test]
    fn jitter_reads_from_config_in_lowercase() {
        let backoff: Backoff =
            serde_json::from_str(r#"{"initial": 10, "max": 100, "jitter": "equal"}"#).unwrap();
        assert_eq!(backoff.jitter, Jitter::Equal);
        let default: Backoff = serde_json::from_str(r#"{"initial": 10, "max": 100}"#).unwrap();
        assert_eq!(default.jitter, Jitter::Full);
    }
}

//! Limits per key: how often (a rate) and how many at once (a concurrency) tasks of one key —
//! one customer, one downstream system — may start, across every instance that shares the
//! limiter's store.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

/// The limits a [`Limiter`] enforces for each key.
///
/// ```
/// use std::time::Duration;
/// use plba_contracts::{Limits, Rate};
///
/// // At most 10 tasks a second per customer (bursts of 5), at most 3 at once.
/// let limits = Limits {
///     rate: Some(Rate::per_second(10).with_burst(5)),
///     concurrency: Some(3),
/// };
/// assert_eq!(limits.rate.unwrap().interval(), Duration::from_millis(100));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How often tasks of one key may start; `None`: no rate limit.
    pub rate: Option<Rate>,
    /// How many tasks of one key may run at once; `None`: no concurrency limit.
    pub concurrency: Option<u32>,
}

/// `count` starts per `period`, evenly spaced (GCRA), with up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Starts per period.
    pub count: u32,
    /// The period.
    pub period: Duration,
    /// Starts allowed back to back before the spacing applies (at least 1).
    pub burst: u32,
}

impl Rate {
    /// `count` starts per second, no burst.
    pub const fn per_second(count: u32) -> Self {
        Self {
            count,
            period: Duration::from_secs(1),
            burst: 1,
        }
    }

    /// The same rate allowing `burst` starts back to back.
    #[must_use]
    pub const fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// The spacing between starts: `period / count`.
    pub fn interval(&self) -> Duration {
        self.period / self.count.max(1)
    }

    /// How far ahead of the spacing a start may come: `interval * (burst - 1)`.
    pub fn tolerance(&self) -> Duration {
        self.interval() * self.burst.max(1).saturating_sub(1)
    }
}

/// A concurrency slot held by a task that started; give it back with
/// [`Limiter::release`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permit {
    key: String,
    token: Option<String>,
}

impl Permit {
    /// A permit for `key`; `token` names the slot, when the limiter counts them.
    pub fn new(key: impl Into<String>, token: Option<String>) -> Self {
        Self {
            key: key.into(),
            token,
        }
    }

    /// The key it was granted for.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The slot it holds, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

/// What [`Limiter::acquire`] answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The task may start now; release the permit when it is done.
    Granted(Permit),
    /// Not now: ask again after this long.
    Wait(Duration),
}

crate::message_error::message_error!(
    /// Why a limiter could not answer (its store is unreachable).
    LimitError,
    "limiter: {message}"
);

/// Admits tasks per key under [`Limits`].
///
/// # Protocol
///
/// Before a task of key `k` starts, its consumer calls [`acquire`](Self::acquire): on
/// [`Admission::Granted`] it runs the task and then calls [`release`](Self::release) with
/// the permit, whatever the outcome; on [`Admission::Wait`] it does not run it and puts it
/// aside for at least that long (taking other keys' tasks meanwhile, so a limited key does
/// not starve the rest). A permit not released (the process died) lapses after the
/// limiter's hold time. A limiter shared through a store (Redis) holds its limits across
/// every instance using that store; checking and taking are one atomic step.
#[async_trait]
pub trait Limiter: Send + Sync + 'static {
    /// Asks to start one task of `key`.
    async fn acquire(&self, key: &str) -> Result<Admission, LimitError>;

    /// Gives back what `permit` holds (a concurrency slot).
    async fn release(&self, permit: &Permit) -> Result<(), LimitError>;
}

impl fmt::Debug for dyn Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn Limiter")
    }
}

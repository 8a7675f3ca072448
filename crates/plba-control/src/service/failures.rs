//! Failed sign-ins per client address: an allowance that refills with time, so guessing
//! tokens from one address goes at a few tries a minute instead of thousands a second.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use plba_util::Unpoisoned;

/// Most addresses tracked at once. A new address past it replaces the one idle longest, so
/// the table stays small whatever the number of addresses a flood comes from.
const TRACKED: usize = 4096;

/// How many failed sign-ins each client address may still make, refilling at
/// `per_minute` a minute up to `per_minute`.
#[derive(Debug)]
pub(super) struct FailureLimiter {
    per_minute: f64,
    clients: Mutex<HashMap<IpAddr, Allowance>>,
}

#[derive(Clone, Copy, Debug)]
struct Allowance {
    left: f64,
    at: Instant,
}

impl FailureLimiter {
    pub(super) fn new(per_minute: u32) -> Self {
        Self {
            per_minute: f64::from(per_minute.max(1)),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` while `client` has used up its allowance: how long until it may try again.
    pub(super) fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let clients = self.clients.lock_or_recover();
        let Some(allowance) = clients.get(&key(client)) else {
            return Ok(());
        };
        let left = self.refilled(*allowance, now);
        if left >= 1.0 {
            return Ok(());
        }
        Err(Duration::from_secs_f64(
            (1.0 - left) * 60.0 / self.per_minute,
        ))
    }

    /// Counts one failed sign-in from `client`.
    pub(super) fn fail(&self, client: IpAddr, now: Instant) {
        let mut clients = self.clients.lock_or_recover();
        let key = key(client);
        if !clients.contains_key(&key) && clients.len() >= TRACKED {
            // Forget whoever has refilled; if nobody has, the one idle longest.
            clients.retain(|_, allowance| self.refilled(*allowance, now) < self.per_minute);
            if clients.len() >= TRACKED
                && let Some(oldest) = clients.iter().min_by_key(|(_, a)| a.at).map(|(k, _)| *k)
            {
                clients.remove(&oldest);
            }
        }
        let full = Allowance {
            left: self.per_minute,
            at: now,
        };
        let allowance = clients.entry(key).or_insert(full);
        allowance.left = (self.refilled(*allowance, now) - 1.0).max(0.0);
        allowance.at = now;
    }

    fn refilled(&self, allowance: Allowance, now: Instant) -> f64 {
        let minutes = now.saturating_duration_since(allowance.at).as_secs_f64() / 60.0;
        (allowance.left + minutes * self.per_minute).min(self.per_minute)
    }
}

/// The address a client is counted by: IPv4 as is (an IPv4-mapped IPv6 address too), IPv6
/// by its /64, which one host or customer usually holds whole.
fn key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_client_may_fail_its_allowance_then_waits_for_it_to_refill() {
        let limiter = FailureLimiter::new(10);
        let start = Instant::now();
        for _ in 0..10 {
            assert!(limiter.check(ip("192.0.2.1"), start).is_ok());
            limiter.fail(ip("192.0.2.1"), start);
        }
        let wait = limiter.check(ip("192.0.2.1"), start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(6));
        assert!(
            limiter.check(ip("192.0.2.2"), start).is_ok(),
            "others are not limited"
        );
        let later = start + Duration::from_secs(6);
        assert!(limiter.check(ip("192.0.2.1"), later).is_ok());
        limiter.fail(ip("192.0.2.1"), later);
        assert!(limiter.check(ip("192.0.2.1"), later).is_err());
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        let limiter = FailureLimiter::new(1);
        let now = Instant::now();
        limiter.fail(ip("2001:db8:1:2::1"), now);
        assert!(limiter.check(ip("2001:db8:1:2::ffff"), now).is_err());
        assert!(limiter.check(ip("2001:db8:1:3::1"), now).is_ok());
    }

    #[test]
    fn the_table_stays_bounded_under_a_flood_of_addresses() {
        let limiter = FailureLimiter::new(1);
        let now = Instant::now();
        for n in 0..(4096_u32 + 500) {
            limiter.fail(IpAddr::V4(n.into()), now);
        }
        assert!(limiter.clients.lock_or_recover().len() <= TRACKED);
    }
}

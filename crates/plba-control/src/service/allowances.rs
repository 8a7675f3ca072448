//! How often one client may do something costly: an allowance per key that refills with
//! time. Failed sign-ins are counted per client address, so guessing tokens goes at a few
//! tries a minute instead of thousands a second; sign-ins are counted per token name, so
//! a viewer signing in again and again cannot churn the audit or the log.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use plba_util::Unpoisoned;

/// Most keys tracked apart. Past it, a new key replaces one whose allowance is not used up;
/// when every tracked key has used up its allowance, the keys not tracked share one, so
/// a flood from many addresses can neither grow the table nor free a limited address.
const TRACKED: usize = 16_384;

/// Per key, how many more times it may do the limited thing, refilling at `per_minute` a
/// minute up to `per_minute`.
#[derive(Debug)]
pub(super) struct Allowances<K> {
    per_minute: f64,
    table: Mutex<Table<K>>,
}

#[derive(Debug)]
struct Table<K> {
    keys: HashMap<K, Allowance>,
    /// What the keys not tracked share once the table is full of used-up allowances.
    shared: Allowance,
}

#[derive(Clone, Copy, Debug)]
struct Allowance {
    left: f64,
    at: Instant,
}

impl<K: Hash + Eq + Clone> Allowances<K> {
    pub(super) fn new(per_minute: u32) -> Self {
        let per_minute = f64::from(per_minute.max(1));
        Self {
            per_minute,
            table: Mutex::new(Table {
                keys: HashMap::new(),
                shared: Allowance {
                    left: per_minute,
                    at: Instant::now(),
                },
            }),
        }
    }

    /// `Err(wait)` while `key` has used up its allowance: how long until it may go again.
    pub(super) fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let table = self.table.lock_or_recover();
        let allowance = match table.keys.get(key) {
            Some(allowance) => *allowance,
            None if table.keys.len() >= TRACKED => table.shared,
            None => return Ok(()),
        };
        let left = self.refilled(allowance, now);
        if left >= 1.0 {
            return Ok(());
        }
        Err(Duration::from_secs_f64(
            (1.0 - left) * 60.0 / self.per_minute,
        ))
    }

    /// Uses one of `key`'s allowance.
    pub(super) fn spend(&self, key: &K, now: Instant) {
        let mut table = self.table.lock_or_recover();
        if !table.keys.contains_key(key) && table.keys.len() >= TRACKED {
            // Make room by forgetting the key with the most left, never one used up.
            let roomiest = table
                .keys
                .iter()
                .map(|(k, a)| (k, self.refilled(*a, now)))
                .filter(|(_, left)| *left >= 1.0)
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(k, _)| k.clone());
            match roomiest {
                Some(roomiest) => {
                    table.keys.remove(&roomiest);
                }
                None => {
                    table.shared = self.spent(table.shared, now);
                    return;
                }
            }
        }
        let full = Allowance {
            left: self.per_minute,
            at: now,
        };
        let allowance = table.keys.get(key).copied().unwrap_or(full);
        table.keys.insert(key.clone(), self.spent(allowance, now));
    }

    fn spent(&self, allowance: Allowance, now: Instant) -> Allowance {
        Allowance {
            left: (self.refilled(allowance, now) - 1.0).max(0.0),
            at: now,
        }
    }

    fn refilled(&self, allowance: Allowance, now: Instant) -> f64 {
        let minutes = now.saturating_duration_since(allowance.at).as_secs_f64() / 60.0;
        (allowance.left + minutes * self.per_minute).min(self.per_minute)
    }
}

/// The address a client is counted by: IPv4 as is (an IPv4-mapped IPv6 address too), IPv6
/// by its /64, which one host or customer usually holds whole.
pub(super) fn client_key(client: IpAddr) -> IpAddr {
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
    fn a_key_may_spend_its_allowance_then_waits_for_it_to_refill() {
        let limiter = Allowances::new(10);
        let start = Instant::now();
        let client = ip("192.0.2.1");
        for _ in 0..10 {
            assert!(limiter.check(&client, start).is_ok());
            limiter.spend(&client, start);
        }
        let wait = limiter.check(&client, start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(6));
        assert!(
            limiter.check(&ip("192.0.2.2"), start).is_ok(),
            "others go on"
        );
        let later = start + Duration::from_secs(6);
        assert!(limiter.check(&client, later).is_ok());
        limiter.spend(&client, later);
        assert!(limiter.check(&client, later).is_err());
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(client_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }

    #[test]
    fn a_flood_of_new_keys_neither_grows_the_table_nor_frees_a_limited_key() {
        let limiter = Allowances::new(1);
        let now = Instant::now();
        let limited = u32::MAX;
        limiter.spend(&limited, now);
        assert!(limiter.check(&limited, now).is_err());
        let tracked = u32::try_from(TRACKED).unwrap();
        for key in 0..(tracked + 5_000) {
            limiter.spend(&key, now);
        }
        assert!(limiter.table.lock_or_recover().keys.len() <= TRACKED);
        assert!(limiter.check(&limited, now).is_err(), "the flood freed it");
        // Past the table, the keys not tracked share one allowance, used up by the flood.
        assert!(limiter.check(&(u32::MAX - 1), now).is_err());
    }

    #[test]
    fn a_key_with_allowance_left_makes_room_for_a_new_one() {
        let limiter = Allowances::new(2);
        let now = Instant::now();
        let tracked = u32::try_from(TRACKED).unwrap();
        for key in 0..tracked {
            limiter.spend(&key, now);
        }
        // Every tracked key has one left: the newcomer replaces one of them.
        limiter.spend(&tracked, now);
        let table = limiter.table.lock_or_recover();
        assert!(table.keys.contains_key(&tracked));
        assert_eq!(table.keys.len(), TRACKED);
    }
}

//! Options of the Redis queue.

use std::time::Duration;

use serde::Deserialize;

/// How a [`crate::RedisQueue`] connects and behaves.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisQueueOptions {
    /// `redis://host:port/db` (a password belongs in the URL or in env; it is never logged).
    pub url: String,
    /// Prefix of every key.
    pub prefix: String,
    /// Consumer group shared by every process of the application.
    pub group: String,
    /// Longest `XREADGROUP … BLOCK`, in milliseconds.
    pub block_ms: u64,
    /// An entry pending this long without a heartbeat is taken over by the janitor.
    pub visibility_timeout_ms: u64,
    /// Deliveries after which a nacked task goes to the dead-letter stream.
    pub max_attempts: u32,
    /// Most dead letters kept in the `<queue>:dead` stream: beyond it Redis drops the oldest
    /// as new ones come (`XADD … MAXLEN ~`), so a flood of poison tasks or corrupt entries
    /// cannot fill Redis. The trim is approximate: Redis removes whole stream nodes (100
    /// entries each by default), so up to about that many more may be kept. At least 1.
    pub dead_letter_capacity: usize,
    /// How often delayed tasks are moved back and the janitor runs, in milliseconds.
    pub maintenance_interval_ms: u64,
    /// Timeout of ordinary commands, in milliseconds.
    pub command_timeout_ms: u64,
    /// Entries one read takes (`XREADGROUP COUNT`): the first goes to the consumer that
    /// read, the rest wait in this process for the next `consume` calls, heartbeated like
    /// tasks in hand so none outlives its visibility timeout. 1 turns prefetching off.
    pub prefetch: usize,
    /// Most acks waiting to be written: an ack returns once queued, and a writer sends the
    /// queued ones together (see `ack_delay_ms`). A process killed before they are written
    /// makes those tasks be delivered again, so this bounds, with the worker concurrency,
    /// how many tasks a crash repeats. When the window is full, acks wait for room.
    pub ack_window: usize,
    /// Longest an ack waits to be written, in milliseconds; half a window waiting, a stop
    /// or a `stats` call write at once.
    pub ack_delay_ms: u64,
}

impl Default for RedisQueueOptions {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379/".to_owned(),
            prefix: "plba".to_owned(),
            group: "workers".to_owned(),
            block_ms: 1_000,
            visibility_timeout_ms: 60_000,
            max_attempts: 5,
            // As the memory queue's: enough to inspect an incident, bounded in memory.
            dead_letter_capacity: 10_000,
            maintenance_interval_ms: 50,
            command_timeout_ms: 5_000,
            prefetch: 16,
            ack_window: 128,
            ack_delay_ms: 2,
        }
    }
}

/// Checks that `url` is a Redis URL, as configuration (the key is the caller's; the URL may
/// hold a password, so it is never echoed).
pub fn check_url(url: &str) -> Result<(), plba_contracts::ConfigError> {
    if redis::parse_redis_url(url).is_none() {
        return Err(plba_contracts::ConfigError::invalid(
            "",
            "not a Redis URL (redis://host:port/db, rediss:// for TLS, or redis+unix://)",
        ));
    }
    Ok(())
}

impl RedisQueueOptions {
    /// Checks the options as configuration without connecting, naming the offending key
    /// (relative to the options' own section).
    pub fn check(&self) -> Result<(), plba_contracts::ConfigError> {
        use plba_contracts::ConfigError;
        check_url(&self.url).map_err(|e| e.within("url"))?;
        if self.block_ms + 1_000 >= self.visibility_timeout_ms {
            return Err(ConfigError::invalid(
                "visibility_timeout_ms",
                "must exceed block_ms by more than a second",
            ));
        }
        for (key, value) in [("prefix", &self.prefix), ("group", &self.group)] {
            if value.trim().is_empty() {
                return Err(ConfigError::invalid(key, "is empty"));
            }
        }
        if self.max_attempts == 0 {
            return Err(ConfigError::invalid("max_attempts", "must be at least 1"));
        }
        // `MAXLEN ~ 0` would throw every dead letter away, unseen.
        if self.dead_letter_capacity == 0 {
            return Err(ConfigError::invalid(
                "dead_letter_capacity",
                "must be at least 1",
            ));
        }
        if !(1..=1000).contains(&self.prefetch) {
            return Err(ConfigError::invalid(
                "prefetch",
                "must be between 1 and 1000",
            ));
        }
        if !(1..=10_000).contains(&self.ack_window) {
            return Err(ConfigError::invalid(
                "ack_window",
                "must be between 1 and 10000",
            ));
        }
        if self.ack_delay_ms > 1_000 {
            return Err(ConfigError::invalid(
                "ack_delay_ms",
                "must be at most 1000 (a second)",
            ));
        }
        Ok(())
    }

    pub(crate) fn ack_delay(&self) -> Duration {
        Duration::from_millis(self.ack_delay_ms)
    }

    pub(crate) fn block(&self) -> Duration {
        Duration::from_millis(self.block_ms.max(1))
    }

    pub(crate) fn visibility_timeout(&self) -> Duration {
        Duration::from_millis(self.visibility_timeout_ms.max(100))
    }

    pub(crate) fn maintenance_interval(&self) -> Duration {
        Duration::from_millis(self.maintenance_interval_ms.max(5))
    }

    pub(crate) fn command_timeout(&self) -> Duration {
        Duration::from_millis(self.command_timeout_ms.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_pass_the_check() {
        assert_eq!(RedisQueueOptions::default().check(), Ok(()));
        assert_eq!(RedisQueueOptions::default().dead_letter_capacity, 10_000);
    }

    #[test]
    fn a_dead_letter_capacity_of_zero_is_refused() {
        let options = RedisQueueOptions {
            dead_letter_capacity: 0,
            ..RedisQueueOptions::default()
        };
        let error = options
            .check()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("dead_letter_capacity"), "{error}");
    }

    #[test]
    fn the_capacity_can_be_configured() {
        let options: RedisQueueOptions =
            serde_json::from_str(r#"{"dead_letter_capacity": 50}"#).unwrap();
        assert_eq!(options.dead_letter_capacity, 50);
        assert_eq!(options.max_attempts, 5, "the rest keep their defaults");
    }
}

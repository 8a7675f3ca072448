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
    /// How often delayed tasks are moved back and the janitor runs, in milliseconds.
    pub maintenance_interval_ms: u64,
    /// Timeout of ordinary commands, in milliseconds.
    pub command_timeout_ms: u64,
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
            maintenance_interval_ms: 50,
            command_timeout_ms: 5_000,
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
        Ok(())
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

/// Why a Redis queue could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RedisQueueError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL for queue {queue:?}: {reason}")]
    Url {
        /// The queue.
        queue: String,
        /// What is wrong (the URL itself is not repeated: it may hold a password).
        reason: String,
    },
    /// Redis did not answer.
    #[error("queue {queue:?}: Redis is unreachable: {reason}")]
    Unreachable {
        /// The queue.
        queue: String,
        /// The client's message.
        reason: String,
    },
    /// An option is out of range.
    #[error("queue {queue:?}: {reason}")]
    Invalid {
        /// The queue.
        queue: String,
        /// What is wrong.
        reason: String,
    },
}

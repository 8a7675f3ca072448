//! Options of the memory queue and their validation.

use serde::Deserialize;

/// What `publish` does when the queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverflowPolicy {
    /// Wait for room (backpressure on the producer).
    #[default]
    Wait,
    /// Fail at once with `QueueError::Full` (load shedding).
    Reject,
}

/// How a [`crate::MemoryQueue`] behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryQueueOptions {
    /// Most tasks waiting at once (in-flight and delayed tasks do not count).
    pub capacity: usize,
    /// Deliveries after which a nacked task goes to the dead-letter list.
    pub max_attempts: u32,
    /// What a full queue does to a producer.
    pub overflow: OverflowPolicy,
    /// Most dead letters kept; the oldest are dropped (and logged) beyond it.
    pub dead_letter_capacity: usize,
}

impl Default for MemoryQueueOptions {
    fn default() -> Self {
        Self {
            capacity: 1024,
            max_attempts: 5,
            overflow: OverflowPolicy::Wait,
            dead_letter_capacity: 10_000,
        }
    }
}

/// Why a memory queue could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryQueueError {
    /// An option is out of range.
    #[error("memory queue {queue:?}: {option} must be at least 1")]
    InvalidOption {
        /// The queue.
        queue: String,
        /// The option.
        option: &'static str,
    },
}

impl MemoryQueueOptions {
    /// The first option that is out of range, if any.
    fn out_of_range(&self) -> Option<&'static str> {
        if self.capacity == 0 {
            Some("capacity")
        } else if self.max_attempts == 0 {
            Some("max_attempts")
        } else {
            None
        }
    }

    /// Checks the options as configuration, naming the offending key (relative to the
    /// options' own section).
    pub fn check(&self) -> Result<(), plba_contracts::ConfigError> {
        match self.out_of_range() {
            Some(option) => Err(plba_contracts::ConfigError::invalid(
                option,
                "must be at least 1",
            )),
            None => Ok(()),
        }
    }

    pub(crate) fn validate(&self, queue: &str) -> Result<(), MemoryQueueError> {
        match self.out_of_range() {
            Some(option) => Err(MemoryQueueError::InvalidOption {
                queue: queue.to_owned(),
                option,
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MemoryQueueOptions;

    #[test]
    fn the_default_options_are_valid() {
        assert!(MemoryQueueOptions::default().validate("q").is_ok());
    }
}

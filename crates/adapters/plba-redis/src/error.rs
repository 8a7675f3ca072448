//! Errors this crate builds: why a queue could not be set up, and how a failed round trip
//! becomes a `QueueError` without losing its cause's text.

use std::error::Error;

use plba_contracts::{ConfigError, QueueError};

/// An underlying error kept as the cause.
type Cause = Box<dyn Error + Send + Sync + 'static>;

/// Why a Redis queue (or lease) could not be set up. The underlying error is kept as the
/// [`source`](Error::source), so [`plba_util::error_chain`] prints the whole story and
/// callers can inspect (or downcast) the cause.
#[derive(Debug, thiserror::Error)]
pub enum RedisQueueError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL for queue {queue:?}")]
    Url {
        /// The queue.
        queue: String,
        /// What the client found wrong (the URL itself is not repeated: it may hold a
        /// password).
        #[source]
        source: Cause,
    },
    /// Redis did not answer.
    #[error("queue {queue:?}: Redis is unreachable")]
    Unreachable {
        /// The queue.
        queue: String,
        /// The client's error.
        #[source]
        source: Cause,
    },
    /// An option is out of range.
    #[error("queue {queue:?}: invalid options")]
    Invalid {
        /// The queue.
        queue: String,
        /// Which option, and what is wrong with it.
        #[source]
        source: ConfigError,
    },
}

impl RedisQueueError {
    /// The URL `queue` was given did not parse.
    pub(crate) fn url(queue: impl Into<String>, error: redis::RedisError) -> Self {
        Self::Url {
            queue: queue.into(),
            source: Box::new(error),
        }
    }

    /// Connecting (or the first round trip) failed.
    pub(crate) fn unreachable(queue: impl Into<String>, error: redis::RedisError) -> Self {
        Self::Unreachable {
            queue: queue.into(),
            source: Box::new(error),
        }
    }
}

/// A transient `QueueError` for a failed round trip, keeping the client's error as its source.
pub(crate) fn unavailable(queue: &str, error: impl Error + Send + Sync + 'static) -> QueueError {
    QueueError::unavailable(queue, "a Redis command failed", Some(Box::new(error)))
}

/// A transient `QueueError` where no error value exists (a timeout the queue measured
/// itself, what the condition remembers).
pub(crate) fn unavailable_because(queue: &str, reason: impl Into<String>) -> QueueError {
    QueueError::unavailable(queue, reason, None)
}

/// A Redis error shared by every job of the batch it failed (publishes written together).
#[derive(Debug)]
pub(crate) struct SharedRedisError(pub(crate) std::sync::Arc<redis::RedisError>);

impl std::fmt::Display for SharedRedisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Error for SharedRedisError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

#[cfg(test)]
mod tests {
    use plba_util::error_chain;

    use super::*;

    #[test]
    fn the_cause_is_kept_as_the_source() {
        let cause = redis::RedisError::from((redis::ErrorKind::Io, "connection refused"));
        let error = RedisQueueError::unreachable("orders", cause);
        assert_eq!(error.to_string(), "queue \"orders\": Redis is unreachable");
        let source = error.source().map(ToString::to_string).unwrap_or_default();
        assert!(source.contains("connection refused"), "{source}");
        let chain = error_chain(&error);
        assert!(
            chain.starts_with("queue \"orders\": Redis is unreachable: "),
            "{chain}"
        );
        assert!(chain.contains("connection refused"), "{chain}");
    }

    #[test]
    fn an_unavailable_queue_error_carries_the_whole_chain() {
        let error = RedisQueueError::Invalid {
            queue: "orders".to_owned(),
            source: ConfigError::invalid("max_attempts", "must be at least 1"),
        };
        let unavailable = unavailable("orders", error);
        assert!(matches!(unavailable, QueueError::Unavailable { .. }));
        let reason = error_chain(&unavailable);
        assert!(reason.contains("invalid options"), "{reason}");
        assert!(reason.contains("max_attempts"), "{reason}");
    }
}

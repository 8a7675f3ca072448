//! What the Redis queue test binaries share.

use plba_redis::RedisQueueOptions;

/// Options that notice a dead consumer and an empty stream within a test's patience: short
/// blocking reads and a two-second visibility timeout.
pub(crate) fn quick_options(url: &str) -> RedisQueueOptions {
    RedisQueueOptions {
        url: url.to_owned(),
        block_ms: 200,
        visibility_timeout_ms: 2_000,
        ..RedisQueueOptions::default()
    }
}

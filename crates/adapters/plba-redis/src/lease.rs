//! A lease in Redis: `SET NX PX`, renewed and released only by its holder.

use std::time::Duration;

use plba_contracts::{Lease, async_trait};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use tokio::sync::OnceCell;

use crate::error::RedisQueueError;
use crate::identity::unique_name;

/// Takes or renews: set when free, extend when ours. KEYS: lease. ARGV: holder, ttl ms.
const HOLD: &str = r"
local current = redis.call('GET', KEYS[1])
if current == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
elseif current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// Deletes only when ours. KEYS: lease. ARGV: holder.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// A lease held in Redis under `<prefix>:lease:{<name>}`, expiring `ttl` after its last
/// renewal. Connects on first use; while Redis is unreachable the lease is not held.
pub struct RedisLease {
    client: Client,
    key: String,
    holder: String,
    ttl: Duration,
    connection: OnceCell<ConnectionManager>,
    hold: Script,
    release: Script,
}

impl RedisLease {
    /// A lease named `name`; checks the URL now, connects later.
    pub fn new(
        url: &str,
        prefix: &str,
        name: &str,
        ttl: Duration,
    ) -> Result<Self, RedisQueueError> {
        let client =
            Client::open(url).map_err(|e| RedisQueueError::url(format!("lease {name}"), e))?;
        Ok(Self {
            client,
            key: format!("{prefix}:lease:{{{name}}}"),
            holder: unique_name(),
            ttl,
            connection: OnceCell::new(),
            hold: Script::new(HOLD),
            release: Script::new(RELEASE),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, redis::RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.ttl / 3))
            .set_connection_timeout(Some(self.ttl / 3));
        self.connection
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned()
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }
}

impl std::fmt::Debug for RedisLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the client: its connection info may hold a password.
        f.debug_struct("RedisLease")
            .field("key", &self.key)
            .field("holder", &self.holder)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Lease for RedisLease {
    async fn hold(&self) -> bool {
        let held = async {
            let mut conn = self.connection().await?;
            self.hold
                .key(&self.key)
                .arg(&self.holder)
                .arg(self.ttl_ms())
                .invoke_async::<i64>(&mut conn)
                .await
        };
        match held.await {
            Ok(held) => held == 1,
            Err(error) => {
                tracing::warn!(lease = %self.key, %error, "cannot reach Redis; acting as if the lease were not held");
                false
            }
        }
    }

    async fn release(&self) {
        let released = async {
            let mut conn = self.connection().await?;
            self.release
                .key(&self.key)
                .arg(&self.holder)
                .invoke_async::<i64>(&mut conn)
                .await
        };
        if let Err(error) = released.await {
            tracing::warn!(lease = %self.key, %error, "cannot release the lease; it expires by itself");
        }
    }

    fn renew_interval(&self) -> Duration {
        self.ttl / 3
    }

    fn holder(&self) -> &str {
        &self.holder
    }
}

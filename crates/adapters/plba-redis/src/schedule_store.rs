//! A schedule store in Redis: the latest fired occurrence of each schedule, claimed with a
//! compare-and-set script, so instances on several hosts run each occurrence once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plba_contracts::{ScheduleStore, ScheduleStoreError, async_trait};
use redis::Script;
use redis::aio::ConnectionManager;

use crate::error::RedisQueueError;
use crate::lazy_connection::LazyConnection;

/// Records `occurrence` unless it or a later one is recorded. KEYS: the schedule's key.
/// ARGV: occurrence (ms since the epoch).
const CLAIM: &str = r"
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if last >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
";

/// How long a call to Redis may take before the store answers with an error.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// Fired occurrences in Redis, one key per schedule: `<prefix>:schedule:{<name>}`, holding
/// milliseconds since the epoch. Connects on first use.
///
/// ```no_run
/// # fn main() -> Result<(), plba_redis::RedisQueueError> {
/// use std::{sync::Arc, time::Duration};
/// use plba_contracts::Schedule;
/// use plba_redis::{RedisLease, RedisScheduleStore};
/// # let job: Arc<dyn plba_contracts::ScheduledJob> = unimplemented!();
///
/// let url = "redis://127.0.0.1:6379/";
/// let schedule = Schedule::cron("nightly", "0 0 2 * * *", "UTC", job)
///     .with_store(Arc::new(RedisScheduleStore::new(url, "plba")?))
///     .with_lease(Arc::new(RedisLease::new(url, "plba", "schedule:nightly", Duration::from_secs(10))?));
/// # Ok(()) }
/// ```
pub struct RedisScheduleStore {
    connection: LazyConnection,
    prefix: String,
    claim: Script,
}

impl RedisScheduleStore {
    /// A store under `prefix`; checks the URL now, connects later.
    pub fn new(url: &str, prefix: &str) -> Result<Self, RedisQueueError> {
        Ok(Self {
            connection: LazyConnection::new(url, "schedule store", COMMAND_TIMEOUT)?,
            prefix: prefix.to_owned(),
            claim: Script::new(CLAIM),
        })
    }

    fn key(&self, schedule: &str) -> String {
        format!("{}:schedule:{{{schedule}}}", self.prefix)
    }

    async fn connection(&self) -> Result<ConnectionManager, ScheduleStoreError> {
        self.connection
            .get()
            .await
            .map_err(|error| failed("connecting to Redis failed", error))
    }
}

impl std::fmt::Debug for RedisScheduleStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the client: its connection info may hold a password.
        f.debug_struct("RedisScheduleStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn failed(what: &str, error: redis::RedisError) -> ScheduleStoreError {
    ScheduleStoreError::new(what).with_source(error)
}

fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[async_trait]
impl ScheduleStore for RedisScheduleStore {
    async fn last_fired(&self, schedule: &str) -> Result<Option<SystemTime>, ScheduleStoreError> {
        let mut conn = self.connection().await?;
        let value: Option<String> = redis::cmd("GET")
            .arg(self.key(schedule))
            .query_async(&mut conn)
            .await
            .map_err(|error| failed("reading the last occurrence failed", error))?;
        match value {
            None => Ok(None),
            Some(text) => text
                .parse::<u64>()
                .map(|ms| Some(UNIX_EPOCH + Duration::from_millis(ms)))
                .map_err(|_| {
                    ScheduleStoreError::new(format!(
                        "key {:?} holds {text:?}, not milliseconds since the epoch",
                        self.key(schedule)
                    ))
                }),
        }
    }

    async fn claim(
        &self,
        schedule: &str,
        occurrence: SystemTime,
    ) -> Result<bool, ScheduleStoreError> {
        let mut conn = self.connection().await?;
        let won: i64 = self
            .claim
            .key(self.key(schedule))
            .arg(millis(occurrence))
            .invoke_async(&mut conn)
            .await
            .map_err(|error| failed("claiming the occurrence failed", error))?;
        Ok(won == 1)
    }
}

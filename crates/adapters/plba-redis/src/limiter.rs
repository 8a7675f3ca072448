//! Limits per key held in Redis, so they hold across every process and host that shares it:
//! a GCRA rate and a concurrency count, checked and taken by one script.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use plba_contracts::{Admission, LimitError, Limiter, Limits, Permit, async_trait};
use redis::Script;
use redis::aio::ConnectionManager;

use crate::error::RedisQueueError;
use crate::identity::unique_name;
use crate::lazy_connection::LazyConnection;

/// How long a call to Redis may take before the limiter answers with an error.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Decides one start. The time is Redis's own (`TIME`), so hosts whose clocks differ still
/// share one schedule. A start refused by the rate is given its own later slot (the
/// backlog pointer moves one interval per refusal), so tasks held back together come back
/// one interval apart instead of all at once. KEYS: the key's rate key, its slots key, its
/// backlog key. ARGV: interval (ms; 0 = no rate), tolerance (ms), concurrency (0 = none),
/// the slot's token, how long a slot is held at most (ms). Answers {1, 0} when granted,
/// {0, wait ms} for the rate, {0, -1} for a slot.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local concurrency = tonumber(ARGV[3])
local hold = tonumber(ARGV[5])
if concurrency > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= concurrency then return {0, -1} end
end
if interval > 0 then
  local due = tonumber(redis.call('GET', KEYS[1]) or '0')
  if due < now then due = now end
  local earliest = due - tolerance
  if earliest > now then
    local slot = tonumber(redis.call('GET', KEYS[3]) or '0')
    if slot < earliest then slot = earliest end
    redis.call('SET', KEYS[3], slot + interval, 'PX', slot + interval - now + 1000)
    return {0, slot - now}
  end
  local next_due = due + interval
  redis.call('SET', KEYS[1], next_due, 'PX', next_due - now + tolerance + 1000)
end
if concurrency > 0 then
  redis.call('ZADD', KEYS[2], now + hold, ARGV[4])
  redis.call('PEXPIRE', KEYS[2], hold + 1000)
end
return {1, 0}
";

/// How long a task waits for a concurrency slot before asking again.
const SLOT_RETRY: Duration = Duration::from_millis(200);

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Whole milliseconds, rounded up: a rate's interval rounded down would let more starts
/// through than asked (7 a second is 142.86 ms apart, not 142).
fn millis_up(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros().div_ceil(1000)).unwrap_or(u64::MAX)
}

/// Rate and concurrency limits per key in Redis under `<prefix>:limit:{<name>:<key>}:*`.
/// A slot not given back (its process died) lapses after `hold`.
///
/// ```no_run
/// # fn main() -> Result<(), plba_redis::RedisQueueError> {
/// use std::{sync::Arc, time::Duration};
/// use plba_contracts::{Limits, Rate};
/// use plba_redis::RedisLimiter;
///
/// // Per customer, across every instance: 5 orders a second, 2 at once.
/// let limits = Limits { rate: Some(Rate::per_second(5)), concurrency: Some(2) };
/// let limiter = RedisLimiter::new("redis://127.0.0.1:6379/", "plba", "customers", limits,
///     Duration::from_secs(300))?;
/// // QueueWorkerPool::new(…).limiter(Arc::new(limiter))
/// # Ok(()) }
/// ```
pub struct RedisLimiter {
    connection: LazyConnection,
    prefix: String,
    name: String,
    limits: Limits,
    hold: Duration,
    holder: String,
    tokens: AtomicU64,
    acquire: Script,
}

impl RedisLimiter {
    /// A limiter named `name` enforcing `limits` per key; a slot is held at most `hold`.
    /// Checks the URL now, connects on first use.
    pub fn new(
        url: &str,
        prefix: &str,
        name: &str,
        limits: Limits,
        hold: Duration,
    ) -> Result<Self, RedisQueueError> {
        Ok(Self {
            connection: LazyConnection::new(url, &format!("limiter {name}"), COMMAND_TIMEOUT)?,
            prefix: prefix.to_owned(),
            name: name.to_owned(),
            limits,
            hold,
            holder: unique_name(),
            tokens: AtomicU64::new(0),
            acquire: Script::new(ACQUIRE),
        })
    }

    fn keys(&self, key: &str) -> (String, String, String) {
        let base = format!("{}:limit:{{{}:{key}}}", self.prefix, self.name);
        (
            format!("{base}:rate"),
            format!("{base}:slots"),
            format!("{base}:backlog"),
        )
    }

    async fn connection(&self) -> Result<ConnectionManager, LimitError> {
        self.connection
            .get()
            .await
            .map_err(|error| failed("connecting to Redis failed", error))
    }
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the client: its connection info may hold a password.
        f.debug_struct("RedisLimiter")
            .field("prefix", &self.prefix)
            .field("name", &self.name)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn failed(what: &str, error: redis::RedisError) -> LimitError {
    LimitError::new(what).with_source(error)
}

#[async_trait]
impl Limiter for RedisLimiter {
    async fn acquire(&self, key: &str) -> Result<Admission, LimitError> {
        let (rate_key, slots_key, backlog_key) = self.keys(key);
        let (interval, tolerance) = self.limits.rate.map_or((0, 0), |rate| {
            let interval = millis_up(rate.interval()).max(1);
            (interval, interval * u64::from(rate.burst.max(1) - 1))
        });
        let token = self.limits.concurrency.map(|_| {
            format!(
                "{}-{}",
                self.holder,
                self.tokens.fetch_add(1, Ordering::Relaxed)
            )
        });
        let mut conn = self.connection().await?;
        let (granted, wait): (i64, i64) = self
            .acquire
            .key(rate_key)
            .key(slots_key)
            .key(backlog_key)
            .arg(interval)
            .arg(tolerance)
            .arg(self.limits.concurrency.unwrap_or(0))
            .arg(token.as_deref().unwrap_or(""))
            .arg(millis(self.hold).max(1))
            .invoke_async(&mut conn)
            .await
            .map_err(|error| failed("asking the limit failed", error))?;
        Ok(match (granted, wait) {
            (1, _) => Admission::Granted(Permit::new(key, token)),
            (_, wait) if wait < 0 => Admission::Wait(SLOT_RETRY),
            (_, wait) => Admission::Wait(Duration::from_millis(wait.unsigned_abs())),
        })
    }

    async fn release(&self, permit: &Permit) -> Result<(), LimitError> {
        let Some(token) = permit.token() else {
            return Ok(());
        };
        let (_, slots_key, _) = self.keys(permit.key());
        let mut conn = self.connection().await?;
        redis::cmd("ZREM")
            .arg(slots_key)
            .arg(token)
            .query_async::<i64>(&mut conn)
            .await
            .map(drop)
            .map_err(|error| failed("giving the slot back failed", error))
    }
}

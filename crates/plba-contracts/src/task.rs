//! The unit of work that travels through queues.

use std::borrow::Cow;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A task's identity: unique across processes and hosts, roughly ordered by creation time.
///
/// 128 bits: 48 bits of milliseconds since the Unix epoch, 32 random bits chosen once per
/// process, 48 bits of a per-process counter. Two processes that start in the same millisecond
/// differ in the random part; one process never repeats itself. Displayed and serialized as
/// 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(u128);

impl TaskId {
    /// A fresh id.
    pub fn generate() -> Self {
        Self::generate_at(SystemTime::now())
    }

    /// A fresh id whose time part is `now` (saves a second clock read when the caller
    /// already has the time).
    pub fn generate_at(now: SystemTime) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let millis = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis();
        let count = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xFFFF_FFFF_FFFF;
        let high = (millis & 0xFFFF_FFFF_FFFF) << 80;
        let random = u128::from(process_random()) << 48;
        Self(high | random | u128::from(count))
    }

    /// The id as a number.
    pub fn as_u128(self) -> u128 {
        self.0
    }

    /// An id from a number (for adapters that store ids in binary form).
    pub fn from_u128(value: u128) -> Self {
        Self(value)
    }
}

fn process_random() -> u32 {
    static SEED: OnceLock<u32> = OnceLock::new();
    *SEED.get_or_init(|| {
        // RandomState is seeded from the OS, so this differs per process without a rand crate.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos();
        hasher.write_u128(nanos);
        let value = hasher.finish();
        // Fold the 64-bit hash into 32 bits; truncation is the point.
        #[allow(clippy::cast_possible_truncation)]
        let folded = (value ^ (value >> 32)) as u32;
        folded
    })
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({self})")
    }
}

/// Returned when a string is not 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid task id {0:?}: expected 32 hexadecimal digits")]
pub struct ParseTaskIdError(String);

impl FromStr for TaskId {
    type Err = ParseTaskIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 {
            return Err(ParseTaskIdError(s.to_owned()));
        }
        u128::from_str_radix(s, 16)
            .map(Self)
            .map_err(|_| ParseTaskIdError(s.to_owned()))
    }
}

impl Serialize for TaskId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// String key/value pairs that travel with a task: trace context (`traceparent`,
/// `tracestate`), correlation ids, the producer's name.
///
/// Kept as a small vector rather than a map: a task usually carries one to three entries,
/// and keys are mostly `'static`, so the common case costs one allocation for the vector
/// and one per value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata(Vec<(Cow<'static, str>, String)>);

impl Metadata {
    /// An empty map; allocates nothing.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn insert(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.swap_remove(index).1)
    }

    /// The entries in insertion order (after removals, order is not kept).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v.as_str()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<Cow<'static, str>>, V: Into<String>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut metadata = Self::new();
        for (k, v) in iter {
            metadata.insert(k, v);
        }
        metadata
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pairs = std::collections::BTreeMap::<String, String>::deserialize(deserializer)?;
        Ok(pairs.into_iter().collect())
    }
}

/// One unit of work: what a producer publishes, a queue carries and a handler handles.
///
/// `attempt` counts deliveries: 0 when published, 1 on the first delivery, and so on. The
/// queue increments it; handlers read it (e.g. to log "third try").
///
/// ```
/// use plba_contracts::Task;
///
/// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
/// struct Invoice { number: u32 }
///
/// let task = Task::json("invoice.send", &Invoice { number: 7 })
///     .unwrap()
///     .with_metadata("origin", "billing");
/// assert_eq!(task.payload_json::<Invoice>().unwrap(), Invoice { number: 7 });
/// assert_eq!(task.metadata.get("origin"), Some("billing"));
/// assert_eq!(task.attempt, 0);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Unique id, kept across redeliveries.
    pub id: TaskId,
    /// What kind of task this is (routing and observability; not unique).
    pub name: Cow<'static, str>,
    /// Opaque payload bytes; see [`Task::json`] and [`Task::payload_json`].
    pub payload: Bytes,
    /// Key/value metadata, notably the W3C `traceparent`.
    pub metadata: Metadata,
    /// How many times the task has been delivered (0 before the first delivery).
    pub attempt: u32,
    /// When the task was first published.
    pub enqueued_at: SystemTime,
}

impl Task {
    /// A task with a fresh id and the given payload.
    pub fn new(name: impl Into<Cow<'static, str>>, payload: impl Into<Bytes>) -> Self {
        let now = SystemTime::now();
        Self {
            id: TaskId::generate_at(now),
            name: name.into(),
            payload: payload.into(),
            metadata: Metadata::new(),
            attempt: 0,
            enqueued_at: now,
        }
    }

    /// A task whose payload is `value` encoded as JSON.
    pub fn json<T: Serialize + ?Sized>(
        name: impl Into<Cow<'static, str>>,
        value: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self::new(name, serde_json::to_vec(value)?))
    }

    /// Decodes the payload as JSON.
    pub fn payload_json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.payload)
    }

    /// Adds a metadata entry (builder style).
    #[must_use]
    pub fn with_metadata(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Self {
        self.metadata.insert(key, value);
        self
    }

    /// Gives the task its own time limit (builder style): a handler still running after it
    /// is cancelled and the attempt counts as a transient failure. Overrides the pool's
    /// limit; it travels with the task (metadata [`TIMEOUT_KEY`]) across processes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use plba_contracts::Task;
    ///
    /// let task = Task::new("report.render", "…").with_timeout(Duration::from_secs(30));
    /// assert_eq!(task.timeout(), Some(Duration::from_secs(30)));
    /// ```
    #[must_use]
    pub fn with_timeout(self, limit: Duration) -> Self {
        let ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        self.with_metadata(TIMEOUT_KEY, ms.to_string())
    }

    /// The task's own time limit, if it carries one.
    pub fn timeout(&self) -> Option<Duration> {
        self.metadata
            .get(TIMEOUT_KEY)?
            .parse::<u64>()
            .ok()
            .map(Duration::from_millis)
    }

    /// Delays the task (builder style): a queue delivers it at `at` or after, not before.
    /// The time travels with the task (metadata [`NOT_BEFORE_KEY`]); a durable queue keeps
    /// it across restarts. A time already past means "at once".
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use plba_contracts::Task;
    ///
    /// let at = SystemTime::now() + Duration::from_secs(3600);
    /// let reminder = Task::new("invoice.remind", "7").run_at(at);
    /// // Kept to the millisecond, rounded up: never a fraction early.
    /// let kept = reminder.not_before().unwrap();
    /// assert!(kept >= at && kept < at + Duration::from_millis(1));
    /// ```
    #[must_use]
    pub fn run_at(self, at: SystemTime) -> Self {
        // Rounded up to the millisecond: "not before" must not come a fraction early.
        let ms = at.duration_since(UNIX_EPOCH).map_or(0, |since| {
            u64::try_from(since.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
        });
        self.with_metadata(NOT_BEFORE_KEY, ms.to_string())
    }

    /// Delays the task by `delay` from now (builder style); see [`run_at`](Self::run_at).
    /// Delays beyond a hundred years are taken as a hundred years.
    #[must_use]
    pub fn run_after(self, delay: Duration) -> Self {
        const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);
        let now = SystemTime::now();
        self.run_at(now.checked_add(delay.min(CENTURY)).unwrap_or(now))
    }

    /// The earliest time the task may be delivered, if it was delayed.
    pub fn not_before(&self) -> Option<SystemTime> {
        let ms = self.metadata.get(NOT_BEFORE_KEY)?.parse::<u64>().ok()?;
        UNIX_EPOCH.checked_add(Duration::from_millis(ms))
    }

    /// How long from now until the task may be delivered: `None` when it may be at once.
    pub fn delay_left(&self) -> Option<Duration> {
        self.not_before()?
            .duration_since(SystemTime::now())
            .ok()
            .filter(|left| !left.is_zero())
    }

    /// Makes publishing idempotent on `key` (builder style): while `ttl` has not passed since
    /// a task with this key was published, publishing another task with the same key is a
    /// no-op that [`Published::Duplicate`](crate::Published) reports. On a shared queue
    /// (Redis) the check and the publish are one atomic step, so it holds across instances.
    ///
    /// ```
    /// use std::time::Duration;
    /// use plba_contracts::Task;
    ///
    /// let task = Task::new("invoice.send", "7")
    ///     .with_idempotency_key("invoice-7", Duration::from_secs(86_400));
    /// assert_eq!(task.idempotency_key(), Some(("invoice-7", Duration::from_secs(86_400))));
    /// ```
    #[must_use]
    pub fn with_idempotency_key(self, key: impl Into<String>, ttl: Duration) -> Self {
        self.with_metadata(IDEMPOTENCY_KEY, key)
            .with_metadata(IDEMPOTENCY_TTL_KEY, millis(ttl).max(1).to_string())
    }

    /// Counts the task under `key` for a pool's [`Limiter`](crate::Limiter) (builder style):
    /// tasks of one key (a customer, a downstream system) share its rate and concurrency.
    ///
    /// ```
    /// use plba_contracts::Task;
    ///
    /// let task = Task::new("order.forward", "…").with_limit_key("customer:ACME");
    /// assert_eq!(task.limit_key(), Some("customer:ACME"));
    /// ```
    #[must_use]
    pub fn with_limit_key(self, key: impl Into<String>) -> Self {
        self.with_metadata(LIMIT_KEY, key)
    }

    /// The key the task's limits are counted under, if any.
    pub fn limit_key(&self) -> Option<&str> {
        self.metadata.get(LIMIT_KEY)
    }

    /// The task's idempotency key and how long it is remembered, if it has one (a key
    /// without a readable time to live is remembered for a day).
    pub fn idempotency_key(&self) -> Option<(&str, Duration)> {
        let key = self.metadata.get(IDEMPOTENCY_KEY)?;
        let ttl = self
            .metadata
            .get(IDEMPOTENCY_TTL_KEY)
            .and_then(|ms| ms.parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map_or(Duration::from_secs(86_400), Duration::from_millis);
        Some((key, ttl))
    }
}

/// The metadata key of a task's own time limit, in milliseconds.
pub const TIMEOUT_KEY: &str = "plba.timeout-ms";

/// The metadata key of the earliest time a task may be delivered, in milliseconds since the
/// Unix epoch ([`Task::run_at`]).
pub const NOT_BEFORE_KEY: &str = "plba.not-before-ms";

/// The metadata key of a task's idempotency key ([`Task::with_idempotency_key`]).
pub const IDEMPOTENCY_KEY: &str = "plba.idempotency-key";

/// The metadata key of how long a task's idempotency key is remembered, in milliseconds.
pub const IDEMPOTENCY_TTL_KEY: &str = "plba.idempotency-ttl-ms";

/// The metadata key of the key a task's limits are counted under ([`Task::with_limit_key`]).
pub const LIMIT_KEY: &str = "plba.limit-key";

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_round_trip_through_text() {
        let ids: Vec<TaskId> = (0..10_000).map(|_| TaskId::generate()).collect();
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        let text = ids[0].to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(text.parse::<TaskId>().unwrap(), ids[0]);
        assert!("xyz".parse::<TaskId>().is_err());
        assert!("g".repeat(32).parse::<TaskId>().is_err());
    }

    #[test]
    fn metadata_replaces_and_removes() {
        let mut m = Metadata::new();
        m.insert("traceparent", "a");
        m.insert("traceparent", "b");
        m.insert(String::from("x"), "y");
        assert_eq!(m.len(), 2);
        assert_eq!(m.get("traceparent"), Some("b"));
        assert_eq!(m.remove("x").as_deref(), Some("y"));
        assert_eq!(m.get("x"), None);
    }

    #[test]
    fn task_serializes_with_metadata_as_a_map() {
        let task = Task::new("t", Bytes::from_static(b"hi")).with_metadata("k", "v");
        let json = serde_json::to_value(&task).unwrap();
        assert_eq!(json["metadata"]["k"], "v");
        assert_eq!(json["id"], task.id.to_string());
        let back: Task = serde_json::from_value(json).unwrap();
        assert_eq!(back, task);
    }

    #[test]
    fn bad_json_payload_is_an_error_not_a_panic() {
        let task = Task::new("t", Bytes::from_static(b"{not json"));
        assert!(task.payload_json::<serde_json::Value>().is_err());
    }
}

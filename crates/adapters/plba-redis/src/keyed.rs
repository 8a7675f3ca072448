//! Tasks with an idempotency key: published and replayed through scripts that check the
//! key and act in one step.

use std::sync::LazyLock;
use std::time::Duration;

use plba_contracts::{Published, QueueError, Task, TaskId};
use redis::Script;

use crate::error::unavailable;
use crate::scripts::{PUBLISH_KEYED, REPLAY_KEYED, REPLAY_ONE};
use crate::shared::Shared;
use crate::wire::encode;

static PUBLISH: LazyLock<Script> = LazyLock::new(|| Script::new(PUBLISH_KEYED));
static REPLAY: LazyLock<Script> = LazyLock::new(|| Script::new(REPLAY_KEYED));
static REPLAY_PLAIN: LazyLock<Script> = LazyLock::new(|| Script::new(REPLAY_ONE));

/// What a replay of one dead letter did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replayed {
    /// Back in the stream.
    Done,
    /// Left in place: its idempotency key is another task's now.
    Duplicate,
    /// The entry was gone: another replay or a purge took it first.
    Gone,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// When a delayed task is due (ms since the epoch), or 0 for "now".
pub(crate) fn due_ms(task: &Task) -> u64 {
    match (task.delay_left(), task.not_before()) {
        (Some(_), Some(at)) => crate::wire::due_at_ms(at),
        _ => 0,
    }
}

/// Publishes `task`, whose idempotency key is `key`, unless another task holds the key.
pub(crate) async fn publish(
    shared: &Shared,
    task: &Task,
    key: &str,
    ttl: Duration,
) -> Result<Published, QueueError> {
    let mut conn = shared.commands.clone();
    let reply = PUBLISH
        .key(shared.keys.idempotency(key))
        .key(&shared.keys.stream)
        .key(&shared.keys.delayed)
        .key(&shared.keys.stats)
        .arg(task.id.to_string())
        .arg(millis(ttl).max(1))
        .arg(encode(task, 0))
        .arg(due_ms(task))
        .invoke_async::<Option<String>>(&mut conn)
        .await;
    shared.observe(&reply);
    let holder = reply.map_err(|error| unavailable(&shared.name, error))?;
    match holder {
        None => Ok(Published::Enqueued),
        Some(holder) => match holder.parse::<TaskId>() {
            Ok(existing) => Ok(Published::Duplicate { existing }),
            Err(_) => Err(QueueError::Corrupt {
                queue: shared.name.to_string(),
                reason: format!("idempotency key {key:?} is held by {holder:?}, not a task id"),
            }),
        },
    }
}

/// Replays the dead letter `entry_id` holding `task` (attempt reset): through its key when
/// it has one (left in place when another task took the key since), and only while the
/// entry is there, so two replays at once add it once.
pub(crate) async fn replay(
    shared: &Shared,
    task: &Task,
    entry_id: &str,
) -> Result<Replayed, QueueError> {
    let mut conn = shared.commands.clone();
    let reply = match task.idempotency_key() {
        Some((key, ttl)) => {
            REPLAY
                .key(shared.keys.idempotency(key))
                .key(&shared.keys.stream)
                .key(&shared.keys.dead)
                .arg(task.id.to_string())
                .arg(millis(ttl).max(1))
                .arg(encode(task, 0))
                .arg(entry_id)
                .invoke_async::<i64>(&mut conn)
                .await
        }
        None => {
            REPLAY_PLAIN
                .key(&shared.keys.stream)
                .key(&shared.keys.dead)
                .arg(encode(task, 0))
                .arg(entry_id)
                .invoke_async::<i64>(&mut conn)
                .await
        }
    };
    shared.observe(&reply);
    Ok(
        match reply.map_err(|error| unavailable(&shared.name, error))? {
            1 => Replayed::Done,
            0 if task.idempotency_key().is_some() => Replayed::Duplicate,
            _ => Replayed::Gone,
        },
    )
}

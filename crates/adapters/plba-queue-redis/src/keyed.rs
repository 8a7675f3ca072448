//! Tasks with an idempotency key: published and replayed through scripts that check the
//! key and act in one step.

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use plba_contracts::{Published, QueueError, Task, TaskId};
use redis::Script;

use crate::error::unavailable;
use crate::scripts::{PUBLISH_KEYED, REPLAY_KEYED};
use crate::shared::Shared;
use crate::wire::encode;

static PUBLISH: LazyLock<Script> = LazyLock::new(|| Script::new(PUBLISH_KEYED));
static REPLAY: LazyLock<Script> = LazyLock::new(|| Script::new(REPLAY_KEYED));

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// When a delayed task is due (ms since the epoch), or 0 for "now".
pub(crate) fn due_ms(task: &Task) -> u64 {
    match (task.delay_left(), task.not_before()) {
        (Some(_), Some(at)) => at.duration_since(UNIX_EPOCH).map_or(0, millis),
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
    let holder: Option<String> = PUBLISH
        .key(shared.keys.idempotency(key))
        .key(&shared.keys.stream)
        .key(&shared.keys.delayed)
        .key(&shared.keys.stats)
        .arg(task.id.to_string())
        .arg(millis(ttl).max(1))
        .arg(encode(task, 0))
        .arg(due_ms(task))
        .invoke_async(&mut conn)
        .await
        .map_err(|error| unavailable(&shared.name, error))?;
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

/// Replays the dead letter `entry_id` holding `task` (attempt reset), unless another task
/// took its key since; whether it was replayed.
pub(crate) async fn replay(
    shared: &Shared,
    task: &Task,
    key: &str,
    ttl: Duration,
    entry_id: &str,
) -> Result<bool, QueueError> {
    let mut conn = shared.commands.clone();
    let replayed: i64 = REPLAY
        .key(shared.keys.idempotency(key))
        .key(&shared.keys.stream)
        .key(&shared.keys.dead)
        .arg(task.id.to_string())
        .arg(millis(ttl).max(1))
        .arg(encode(task, 0))
        .arg(entry_id)
        .invoke_async(&mut conn)
        .await
        .map_err(|error| unavailable(&shared.name, error))?;
    Ok(replayed == 1)
}

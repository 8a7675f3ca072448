//! The maintenance task of one queue instance: due delayed tasks back into the stream, the
//! heartbeat on entries in hand, the janitor (entries whose consumer stopped answering), the
//! rescue of this process's own orphans, and the lost-contents watch. Each round also tells
//! the health whether Redis answers, so probes never have to ask it.

use std::sync::Weak;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Script, Value};
use tokio::time::Instant;

use crate::condition::is_missing_group;
use crate::reply::pending_ids;
use crate::scripts::{MOVE_DUE, RECLAIM, RESCUE};
use crate::shared::Shared;
use crate::wire::now_ms;

/// How often this process looks for its own orphaned entries and checks the queue's epoch.
const ORPHAN_CHECK: Duration = Duration::from_secs(1);

/// An entry pending for this consumer this long and not in hand was never handed to a
/// handler: entries are taken in hand as soon as a read returns.
const ORPHAN_IDLE_MS: u64 = 500;

/// The scripts the maintenance runs (loaded once per task, not per round).
struct Scripts {
    move_due: Script,
    reclaim: Script,
    rescue: Script,
}

/// Runs until the queue is dropped: every `maintenance_interval`, due delayed tasks back
/// into the stream; every second, the lost-contents watch and the orphan rescue; every
/// visibility timeout / 4, the heartbeat and the janitor.
pub(crate) async fn run(shared: Weak<Shared>) {
    let scripts = Scripts {
        move_due: Script::new(MOVE_DUE),
        reclaim: Script::new(RECLAIM),
        rescue: Script::new(RESCUE),
    };
    let mut last_janitor = Instant::now();
    let mut last_rescue = Instant::now();
    loop {
        // Held only for one round, so dropping the last queue handle ends the task.
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let interval = shared.options.maintenance_interval();
        let mut conn = shared.commands.clone();
        move_due(&shared, &scripts, &mut conn).await;
        if last_rescue.elapsed() >= ORPHAN_CHECK {
            last_rescue = Instant::now();
            watch_epoch(&shared, &mut conn).await;
            rescue_orphans(&shared, &scripts, &mut conn).await;
        }
        if last_janitor.elapsed() >= shared.options.visibility_timeout() / 4 {
            last_janitor = Instant::now();
            heartbeat(&shared, &mut conn).await;
            janitor(&shared, &scripts, &mut conn).await;
        }
        drop(shared);
        tokio::time::sleep(interval).await;
    }
}

/// Moves due delayed tasks back into the stream.
async fn move_due(shared: &Shared, scripts: &Scripts, conn: &mut ConnectionManager) {
    let moved: Result<i64, _> = scripts
        .move_due
        .key(&shared.keys.stream)
        .key(&shared.keys.delayed)
        .arg(now_ms())
        .invoke_async(conn)
        .await;
    shared.observe(&moved);
    if let Err(error) = moved {
        tracing::debug!(queue = %shared.name, %error, "moving delayed tasks failed; will retry");
    }
}

/// Takes over entries idle longer than the visibility timeout (their consumer died) and
/// publishes them again, attempt counted.
async fn janitor(shared: &Shared, scripts: &Scripts, conn: &mut ConnectionManager) {
    let reclaimed: Result<i64, _> = scripts
        .reclaim
        .key(&shared.keys.stream)
        .arg(&shared.options.group)
        .arg(format!("{}-janitor", shared.consumer))
        .arg(u64::try_from(shared.options.visibility_timeout().as_millis()).unwrap_or(u64::MAX))
        .invoke_async(conn)
        .await;
    match reclaimed {
        Ok(0) => {}
        Ok(n) => {
            tracing::warn!(queue = %shared.name, reclaimed = n, "redelivering tasks whose consumer stopped answering");
        }
        Err(error) if is_missing_group(&error) => {
            recreate_group(shared, conn, error.to_string()).await;
        }
        Err(error) => {
            tracing::debug!(queue = %shared.name, %error, "janitor failed; will retry");
        }
    }
}

/// Reads the queue's epoch: a new one means another process recreated the queue after a
/// loss; none at all means the keys are gone (Redis restarted empty or was flushed) and
/// nobody recreated them yet, so this process does. Either way the listeners hear of it,
/// even when no consumer of this process ever saw `NOGROUP`.
async fn watch_epoch(shared: &Shared, conn: &mut ConnectionManager) {
    let epoch: Result<Option<String>, _> = redis::cmd("GET")
        .arg(&shared.keys.epoch)
        .query_async(conn)
        .await;
    shared.observe(&epoch);
    match epoch {
        Ok(Some(epoch)) => shared.adopt_epoch(epoch),
        Ok(None) => {
            let why = format!("the queue's keys are gone (no {})", shared.keys.epoch);
            recreate_group(shared, conn, why).await;
        }
        Err(error) => {
            tracing::debug!(queue = %shared.name, %error, "reading the queue's epoch failed; will retry");
        }
    }
}

/// Marks the group missing (health: unhealthy) and recreates it.
async fn recreate_group(shared: &Shared, conn: &mut ConnectionManager, why: String) {
    shared.condition.group_missing(why);
    if let Err(error) = shared.ensure_group(conn).await {
        tracing::debug!(queue = %shared.name, %error, "recreating the consumer group failed; will retry");
    }
}

/// Finds entries the server delivered to this queue's consumer that no handler holds — a
/// blocking read cancelled after the server answered it (a `consume` dropped at a stop) —
/// and publishes them again at once, instead of leaving them to the janitor's visibility
/// timeout.
async fn rescue_orphans(shared: &Shared, scripts: &Scripts, conn: &mut ConnectionManager) {
    let pending: Result<Value, _> = redis::cmd("XPENDING")
        .arg(&shared.keys.stream)
        .arg(&shared.options.group)
        .arg("IDLE")
        .arg(ORPHAN_IDLE_MS)
        .arg("-")
        .arg("+")
        .arg(100)
        .arg(&shared.consumer)
        .query_async(conn)
        .await;
    let pending = match pending {
        Ok(pending) => pending,
        Err(error) if is_missing_group(&error) => {
            recreate_group(shared, conn, error.to_string()).await;
            return;
        }
        // The next round tries again.
        Err(_) => return,
    };
    let orphans = shared.in_hand.not_held(pending_ids(&pending));
    if orphans.is_empty() {
        return;
    }
    let mut invocation = scripts.rescue.key(&shared.keys.stream);
    invocation.arg(&shared.options.group);
    for id in &orphans {
        invocation.arg(id);
    }
    match invocation.invoke_async::<i64>(conn).await {
        Ok(n) => {
            tracing::debug!(queue = %shared.name, rescued = n, "republished entries no handler received");
        }
        Err(error) => {
            tracing::debug!(queue = %shared.name, %error, "rescuing orphaned entries failed; will retry");
        }
    }
}

/// Resets the idle time of the entries in hand, so the janitor does not take a slow task
/// from a live handler.
async fn heartbeat(shared: &Shared, conn: &mut ConnectionManager) {
    let ids = shared.in_hand.ids();
    if ids.is_empty() {
        return;
    }
    let result: Result<Value, _> = redis::cmd("XCLAIM")
        .arg(&shared.keys.stream)
        .arg(&shared.options.group)
        .arg(&shared.consumer)
        .arg(0)
        .arg(&ids)
        .arg("JUSTID")
        .query_async(conn)
        .await;
    if let Err(error) = result {
        tracing::debug!(queue = %shared.name, %error, "heartbeat failed");
    }
}

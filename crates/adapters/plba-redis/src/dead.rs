//! The dead-letter stream `<queue>:dead`: how tasks and corrupt entries are written to it
//! (bounded by `dead_letter_capacity`), listed and replayed.
//!
//! An entry holds either a `task` (the stored task as last delivered) or, for a stream
//! entry that was not a task at all, its `raw` bytes; both have a `reason` and a
//! `dead_at_ms`. A corrupt entry cannot become a task again, so it is listed under a
//! stand-in task ([`CORRUPT_ENTRY`]) whose payload is the raw bytes, and replay leaves it
//! where it is for an operator to read (it ages out with the capacity).

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use plba_contracts::{
    DeadLetter, DeadLetterReport, DeadLetterSelection, Metadata, QueueError, Task, TaskId,
};
use plba_util::error_chain;
use redis::{Pipeline, Value};

use crate::error::unavailable;
use crate::keyed::Replayed;
use crate::reply::{Entry, stream_entries};
use crate::shared::Shared;
use crate::wire::{TASK_FIELD, decode, now_ms};

/// The name of the stand-in task that [`RedisQueue::dead_letters`] lists for a corrupt
/// entry — one that was in the queue's stream but was not a task (written by something
/// else, or damaged). Its payload is the entry's raw `task` field (or, without one, its
/// fields as text), its reason starts with `corrupt entry:`, and its metadata
/// [`DEAD_LETTER_ID`] names the entry in `<queue>:dead`, so an operator can remove it.
///
/// [`RedisQueue::dead_letters`]: crate::RedisQueue
pub const CORRUPT_ENTRY: &str = "plba.corrupt-entry";

/// The metadata key of a [`CORRUPT_ENTRY`] stand-in task naming its entry in the
/// `<queue>:dead` stream.
pub const DEAD_LETTER_ID: &str = "plba.dead-letter-id";

/// The field holding a corrupt entry's raw bytes.
const RAW_FIELD: &str = "raw";

/// What [`RedisQueue::replay_dead_letters`](crate::RedisQueue::replay_dead_letters) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Dead letters moved back into the queue, with a fresh attempt count.
    pub replayed: usize,
    /// Corrupt entries left in the dead letters: they cannot become tasks. They stay
    /// listed by `dead_letters` until removed or trimmed by the capacity.
    pub kept_corrupt: usize,
}

/// What a dead letter holds.
pub(crate) enum Content<'a> {
    /// A task, encoded as stored.
    Task(String),
    /// The raw bytes of an entry that was not a task.
    Corrupt(&'a [u8]),
}

/// Adds to `pipe` the `XADD` of one dead letter, trimming the stream to about the
/// capacity (`MAXLEN ~`: Redis trims whole nodes, cheaply) so it cannot grow without bound.
pub(crate) fn add(pipe: &mut Pipeline, shared: &Shared, content: Content<'_>, reason: &str) {
    pipe.cmd("XADD")
        .arg(&shared.keys.dead)
        .arg("MAXLEN")
        .arg("~")
        .arg(shared.options.dead_letter_capacity)
        .arg("*");
    match content {
        Content::Task(encoded) => pipe.arg(TASK_FIELD).arg(encoded),
        Content::Corrupt(raw) => pipe.arg(RAW_FIELD).arg(raw),
    };
    pipe.arg("reason")
        .arg(reason)
        .arg("dead_at_ms")
        .arg(now_ms())
        .ignore();
}

/// The newest `limit` dead letters, newest first, corrupt entries included.
pub(crate) async fn list(shared: &Shared, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
    if limit == 0 {
        // `COUNT 0` is not "none" to every Redis version.
        return Ok(Vec::new());
    }
    let mut conn = shared.commands.clone();
    let entries: Value = redis::cmd("XREVRANGE")
        .arg(&shared.keys.dead)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(limit)
        .query_async(&mut conn)
        .await
        .map_err(|e| unavailable(&shared.name, e))?;
    Ok(stream_entries(&entries).iter().map(letter).collect())
}

/// Moves every dead letter that is a task back into the queue with a fresh attempt count;
/// corrupt entries stay (see the module doc).
pub(crate) async fn replay(
    shared: &Shared,
    which: &DeadLetterSelection,
) -> Result<DeadLetterReport, QueueError> {
    let mut conn = shared.commands.clone();
    let entries = all_entries(shared, &mut conn).await?;
    let mut report = DeadLetterReport::default();
    for entry in stream_entries(&entries) {
        let Some(Ok(mut task)) = entry.field(TASK_FIELD).map(decode) else {
            if *which == DeadLetterSelection::All {
                report.kept += 1;
            }
            continue;
        };
        if !selected(which, &task) {
            continue;
        }
        task.attempt = 0;
        match crate::keyed::replay(shared, &task, &entry.id).await? {
            Replayed::Done => report.done += 1,
            Replayed::Duplicate => report.duplicates += 1,
            Replayed::Gone => {}
        }
    }
    if report.kept > 0 {
        tracing::warn!(
            queue = %shared.name,
            kept = report.kept,
            "corrupt dead letters cannot be replayed; they stay in the dead letters"
        );
    }
    Ok(report)
}

/// Deletes the selected dead letters (corrupt entries too, with [`DeadLetterSelection::All`]).
pub(crate) async fn purge(
    shared: &Shared,
    which: &DeadLetterSelection,
) -> Result<DeadLetterReport, QueueError> {
    let mut conn = shared.commands.clone();
    let entries = all_entries(shared, &mut conn).await?;
    let ids: Vec<String> = stream_entries(&entries)
        .into_iter()
        .filter(|entry| match which {
            DeadLetterSelection::All => true,
            DeadLetterSelection::Task(_) => entry
                .field(TASK_FIELD)
                .map(decode)
                .is_some_and(|task| task.is_ok_and(|task| selected(which, &task))),
        })
        .map(|entry| entry.id)
        .collect();
    if ids.is_empty() {
        return Ok(DeadLetterReport::default());
    }
    let deleted: u64 = redis::cmd("XDEL")
        .arg(&shared.keys.dead)
        .arg(&ids)
        .query_async(&mut conn)
        .await
        .map_err(|e| unavailable(&shared.name, e))?;
    Ok(DeadLetterReport {
        done: deleted,
        ..DeadLetterReport::default()
    })
}

fn selected(which: &DeadLetterSelection, task: &Task) -> bool {
    match which {
        DeadLetterSelection::All => true,
        DeadLetterSelection::Task(id) => task.id == *id,
    }
}

async fn all_entries(
    shared: &Shared,
    conn: &mut redis::aio::ConnectionManager,
) -> Result<Value, QueueError> {
    redis::cmd("XRANGE")
        .arg(&shared.keys.dead)
        .arg("-")
        .arg("+")
        .query_async(conn)
        .await
        .map_err(|e| unavailable(&shared.name, e))
}

/// A dead-letter entry as listed: its task, or a stand-in for a corrupt entry.
fn letter(entry: &Entry) -> DeadLetter {
    let reason = entry
        .field("reason")
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .unwrap_or_default();
    let dead_at_ms: u64 = entry
        .field("dead_at_ms")
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0);
    let dead_at = UNIX_EPOCH + Duration::from_millis(dead_at_ms);
    match entry.field(TASK_FIELD).map(|t| (t, decode(t))) {
        Some((_, Ok(task))) => DeadLetter {
            task,
            reason,
            dead_at,
        },
        // A stored task this version cannot read is shown as it is, never hidden.
        Some((raw, Err(error))) => DeadLetter {
            task: stand_in(&entry.id, raw.to_vec(), dead_at),
            reason: format!(
                "{reason} (the stored task cannot be read: {})",
                error_chain(&error)
            ),
            dead_at,
        },
        None => DeadLetter {
            task: stand_in(&entry.id, raw(entry), dead_at),
            reason,
            dead_at,
        },
    }
}

/// The bytes of a corrupt entry: its `raw` field, or (written by something else) all its
/// fields as `name=value` lines.
fn raw(entry: &Entry) -> Vec<u8> {
    if let Some(raw) = entry.field(RAW_FIELD) {
        return raw.to_vec();
    }
    let mut text = Vec::new();
    for (name, value) in &entry.fields {
        text.extend_from_slice(name);
        text.push(b'=');
        text.extend_from_slice(value);
        text.push(b'\n');
    }
    text
}

/// The raw bytes of a stream entry in the queue that is not a task, for `Content::Corrupt`:
/// its `task` field, or without one, all its fields (see [`raw`]).
pub(crate) fn corrupt_bytes(entry: &Entry) -> Vec<u8> {
    match entry.field(TASK_FIELD) {
        Some(task) => task.to_vec(),
        None => raw(entry),
    }
}

/// The [`CORRUPT_ENTRY`] task standing in for dead-letter entry `id`. Its id is derived from
/// the entry id, so it is the same in every listing.
fn stand_in(id: &str, raw: Vec<u8>, dead_at: SystemTime) -> Task {
    let mut metadata = Metadata::new();
    metadata.insert(DEAD_LETTER_ID, id);
    Task {
        id: task_id_of(id),
        name: Cow::Borrowed(CORRUPT_ENTRY),
        payload: Bytes::from(raw),
        metadata,
        attempt: 0,
        enqueued_at: dead_at,
    }
}

/// A task id made of a stream entry id `<ms>-<seq>`: the milliseconds where a task id keeps
/// its time, the sequence in the low bits.
fn task_id_of(entry_id: &str) -> TaskId {
    const LOW_48: u128 = 0xFFFF_FFFF_FFFF;
    let parsed = entry_id
        .split_once('-')
        .and_then(|(ms, seq)| Some((ms.parse::<u128>().ok()?, seq.parse::<u128>().ok()?)));
    match parsed {
        Some((ms, seq)) => TaskId::from_u128(((ms & LOW_48) << 80) | (seq & LOW_48)),
        None => TaskId::generate(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::encode;

    fn entry(id: &str, fields: &[(&str, &[u8])]) -> Entry {
        Entry {
            id: id.to_owned(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.to_vec()))
                .collect(),
        }
    }

    #[test]
    fn a_task_letter_is_listed_as_its_task() {
        let task = Task::new("job", "payload");
        let encoded = encode(&task, 3);
        let listed = letter(&entry(
            "1700000000000-0",
            &[
                ("task", encoded.as_bytes()),
                ("reason", b"attempts exhausted (3): boom"),
                ("dead_at_ms", b"1700000000000"),
            ],
        ));
        assert_eq!(listed.task.id, task.id);
        assert_eq!(listed.task.attempt, 3);
        assert_eq!(listed.reason, "attempts exhausted (3): boom");
        assert_eq!(
            listed.dead_at,
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_000)
        );
    }

    #[test]
    fn a_corrupt_letter_is_listed_under_a_stable_stand_in() {
        let stored = entry(
            "1700000000000-7",
            &[
                ("raw", b"\xff{not json"),
                ("reason", b"corrupt entry: not a task document"),
                ("dead_at_ms", b"1700000000000"),
            ],
        );
        let listed = letter(&stored);
        assert_eq!(listed.task.name, CORRUPT_ENTRY);
        assert_eq!(listed.task.payload.as_ref(), b"\xff{not json");
        assert_eq!(listed.reason, "corrupt entry: not a task document");
        assert_eq!(
            listed.task.metadata.get(DEAD_LETTER_ID),
            Some("1700000000000-7")
        );
        assert_eq!(
            letter(&stored).task.id,
            listed.task.id,
            "the same in every listing"
        );
        assert_ne!(
            letter(&entry("1700000000000-8", &[])).task.id,
            listed.task.id
        );
    }

    #[test]
    fn an_unreadable_stored_task_is_listed_with_why() {
        let listed = letter(&entry(
            "1-1",
            &[("task", b"{\"id\":1}"), ("reason", b"handler gave up")],
        ));
        assert_eq!(listed.task.name, CORRUPT_ENTRY);
        assert_eq!(listed.task.payload.as_ref(), b"{\"id\":1}");
        assert!(
            listed
                .reason
                .starts_with("handler gave up (the stored task cannot be read: "),
            "{}",
            listed.reason
        );
    }

    #[test]
    fn an_entry_without_a_task_field_keeps_all_its_fields() {
        let foreign = entry("1-1", &[("event", b"signup"), ("user", b"42")]);
        assert_eq!(corrupt_bytes(&foreign), b"event=signup\nuser=42\n");
        let damaged = entry("1-2", &[("task", b"{half")]);
        assert_eq!(corrupt_bytes(&damaged), b"{half");
    }
}

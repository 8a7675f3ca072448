//! A task as stored in Redis: one JSON document, payload in base64, in the `task` field of a
//! stream entry.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use plba_contracts::{Metadata, ParseTaskIdError, Task, TaskId};
use serde::{Deserialize, Serialize};

/// The stream entry field holding the stored task (in the queue's stream and in the dead
/// letters).
pub(crate) const TASK_FIELD: &str = "task";

/// `XADD <stream> * task <encoded>`: how every task enters a stream.
pub(crate) fn push_task(stream: &str, encoded: String) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream).arg("*").arg(TASK_FIELD).arg(encoded);
    cmd
}

/// Why a stored entry is not a task. The underlying error is kept as the source; its text
/// ends up in the dead letter's reason.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    /// The entry has no `task` field at all.
    #[error("entry has no `{TASK_FIELD}` field")]
    Missing,
    /// The field is not the JSON document `encode` writes.
    #[error("not a task document")]
    Document(#[source] serde_json::Error),
    /// The document's id is not a task id.
    #[error("bad task id")]
    Id(#[source] ParseTaskIdError),
    /// The payload is not base64.
    #[error("payload is not base64")]
    Payload(#[source] base64::DecodeError),
}

/// The stored form. `attempt` counts deliveries made so far (a consumer adds one).
#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    id: Cow<'a, str>,
    name: Cow<'a, str>,
    payload: Cow<'a, str>,
    metadata: Metadata,
    attempt: u32,
    enqueued_at_ms: u64,
}

pub(crate) fn encode(task: &Task, attempt: u32) -> String {
    let enqueued_at_ms = task
        .enqueued_at
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let wire = Wire {
        id: Cow::Owned(task.id.to_string()),
        name: Cow::Borrowed(&task.name),
        payload: Cow::Owned(STANDARD.encode(&task.payload)),
        metadata: task.metadata.clone(),
        attempt,
        enqueued_at_ms,
    };
    // Serialising plain strings and numbers cannot fail.
    serde_json::to_string(&wire).unwrap_or_default()
}

/// The task with `attempt` = stored deliveries (the caller adds the current one).
pub(crate) fn decode(text: &[u8]) -> Result<Task, DecodeError> {
    let wire: Wire<'_> = serde_json::from_slice(text).map_err(DecodeError::Document)?;
    let id: TaskId = wire.id.parse().map_err(DecodeError::Id)?;
    let payload = STANDARD
        .decode(wire.payload.as_bytes())
        .map_err(DecodeError::Payload)?;
    Ok(Task {
        id,
        name: Cow::Owned(wire.name.into_owned()),
        payload: Bytes::from(payload),
        metadata: wire.metadata,
        attempt: wire.attempt,
        enqueued_at: UNIX_EPOCH + Duration::from_millis(wire.enqueued_at_ms),
    })
}

/// The due time, in ms since the epoch, of a task due at `at`, rounded up: the delayed set
/// releases what is due by the millisecond rounded down, so a time rounded down too would
/// release a task up to a millisecond before its delay ended.
pub(crate) fn due_at_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        let millis = since.as_millis() + u128::from(since.subsec_nanos() % 1_000_000 != 0);
        u64::try_from(millis).unwrap_or(u64::MAX)
    })
}

/// The due time, in ms since the epoch, of a task due `delay` from now (see [`due_at_ms`]).
pub(crate) fn due_in_ms(delay: Duration) -> u64 {
    SystemTime::now()
        .checked_add(delay)
        .map_or(u64::MAX, due_at_ms)
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_due_time_is_rounded_up_to_the_millisecond() {
        let at = |nanos| UNIX_EPOCH + Duration::from_nanos(nanos);
        assert_eq!(due_at_ms(at(5_000_000)), 5);
        assert_eq!(due_at_ms(at(5_000_001)), 6);
        assert_eq!(due_at_ms(at(5_999_999)), 6);
        assert_eq!(due_at_ms(UNIX_EPOCH), 0);
    }

    #[test]
    fn round_trips_binary_payloads_and_metadata() {
        let task = Task::new("t", Bytes::from_static(b"\x00\xffbinary"))
            .with_metadata("traceparent", "00-abc");
        let decoded = decode(encode(&task, 3).as_bytes()).unwrap();
        assert_eq!(decoded.id, task.id);
        assert_eq!(decoded.payload, task.payload);
        assert_eq!(decoded.metadata, task.metadata);
        assert_eq!(decoded.attempt, 3);
        assert!(matches!(decode(b"{garbage"), Err(DecodeError::Document(_))));
    }

    #[test]
    fn a_bad_payload_keeps_its_cause() {
        let mut text = encode(&Task::new("t", "x"), 0);
        text = text.replace("\"eA==\"", "\"not base64!\"");
        let error = decode(text.as_bytes()).err();
        let Some(DecodeError::Payload(_)) = &error else {
            panic!("{error:?} from {text}");
        };
        let chain = plba_util::error_chain(error.as_ref().unwrap());
        assert!(chain.starts_with("payload is not base64: "), "{chain}");
    }
}

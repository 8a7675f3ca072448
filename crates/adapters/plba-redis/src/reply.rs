//! Reading Redis replies: stream entries (`XRANGE`, `XREVRANGE`, `XREADGROUP`), `XPENDING`
//! and `XINFO GROUPS`, in the shapes both protocols give them. RESP2 sends every structure
//! as a flat array; RESP3 (`?protocol=resp3` in the URL) sends `XREADGROUP` as a map of
//! streams and `XINFO GROUPS` as a list of maps. `XAUTOCLAIM` is read only inside the
//! janitor's Lua script (`scripts::RECLAIM`), where replies always have the RESP2 shape.
//!
//! Unexpected shapes read as "nothing" rather than as errors: every caller runs again soon
//! (the next read, the next maintenance round), and a reply it cannot read must not stop it.

use redis::Value;

/// One stream entry: its id and its field/value pairs, in stored order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The stream entry id, `<ms>-<seq>`.
    pub(crate) id: String,
    /// Field/value pairs, binary-safe.
    pub(crate) fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    /// The value of the first field called `name`.
    pub(crate) fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }
}

/// The entries of an `XRANGE` / `XREVRANGE` reply, or of one stream in an `XREADGROUP`
/// reply: `[[id, [field, value, …]], …]` in both protocols.
pub(crate) fn stream_entries(value: &Value) -> Vec<Entry> {
    let Value::Array(entries) = plain(value) else {
        return Vec::new();
    };
    entries.iter().filter_map(entry).collect()
}

/// The entries of every stream in an `XREADGROUP` reply: `[[stream, entries], …]` in RESP2,
/// `{stream: entries, …}` in RESP3, nil when `BLOCK` ran out.
pub(crate) fn read_group_entries(value: &Value) -> Vec<Entry> {
    match plain(value) {
        Value::Array(streams) => streams
            .iter()
            .flat_map(|stream| match plain(stream) {
                Value::Array(pair) if pair.len() == 2 => stream_entries(&pair[1]),
                _ => Vec::new(),
            })
            .collect(),
        Value::Map(streams) => streams
            .iter()
            .flat_map(|(_, entries)| stream_entries(entries))
            .collect(),
        _ => Vec::new(),
    }
}

/// How many entries are pending in the group, from an `XPENDING <stream> <group>` summary
/// (`[count, smallest id, greatest id, consumers]`); 0 when unreadable.
pub(crate) fn pending_count(value: &Value) -> u64 {
    match plain(value) {
        Value::Array(summary) => summary.first().and_then(integer).unwrap_or(0),
        _ => 0,
    }
}

/// The ids in an extended `XPENDING … <start> <end> <count> [consumer]` reply
/// (`[[id, consumer, idle ms, deliveries], …]`).
pub(crate) fn pending_ids(value: &Value) -> Vec<String> {
    let Value::Array(entries) = plain(value) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| match plain(entry) {
            Value::Array(fields) => text(fields.first()?),
            _ => None,
        })
        .collect()
}

/// The `consumers` count of `group` in an `XINFO GROUPS` reply: a list of flat
/// field/value arrays in RESP2, a list of maps in RESP3.
pub(crate) fn group_consumers(value: &Value, group: &str) -> Option<u64> {
    integer(group_field(value, group, "consumers")?)
}

/// The id of the last entry `group` delivered, from an `XINFO GROUPS` reply: the entries
/// after it wait for a consumer.
pub(crate) fn group_last_delivered(value: &Value, group: &str) -> Option<String> {
    text(group_field(value, group, "last-delivered-id")?)
}

fn group_field<'v>(value: &'v Value, group: &str, key: &str) -> Option<&'v Value> {
    let Value::Array(groups) = plain(value) else {
        return None;
    };
    groups.iter().find_map(|info| {
        let pairs = pairs(info)?;
        let named = |wanted: &str| {
            pairs
                .iter()
                .find(|(k, _)| text(k).as_deref() == Some(wanted))
                .map(|(_, v)| *v)
        };
        if text(named("name")?)? != group {
            return None;
        }
        named(key)
    })
}

/// `[id, fields]`, with fields as a flat array (both protocols) or, defensively, a map.
fn entry(value: &Value) -> Option<Entry> {
    let Value::Array(pair) = plain(value) else {
        return None;
    };
    let [id, fields] = pair.as_slice() else {
        return None;
    };
    let fields = pairs(fields)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| Some((bytes(k)?, bytes(v)?)))
        .collect();
    Some(Entry {
        id: text(id)?,
        fields,
    })
}

/// The key/value pairs of a flat `[k, v, k, v, …]` array or of a map.
fn pairs(value: &Value) -> Option<Vec<(&Value, &Value)>> {
    match plain(value) {
        Value::Array(items) => Some(
            items
                .chunks_exact(2)
                .map(|pair| (&pair[0], &pair[1]))
                .collect(),
        ),
        Value::Map(items) => Some(items.iter().map(|(k, v)| (k, v)).collect()),
        _ => None,
    }
}

/// The value itself, without RESP3 attributes around it (the server may attach some).
fn plain(value: &Value) -> &Value {
    match value {
        Value::Attribute { data, .. } => plain(data),
        other => other,
    }
}

fn bytes(value: &Value) -> Option<Vec<u8>> {
    match plain(value) {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.as_bytes().to_vec()),
        Value::VerbatimString { text, .. } => Some(text.as_bytes().to_vec()),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    bytes(value).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// An integer, sent as one or (by some commands in RESP3) as its decimal text.
fn integer(value: &Value) -> Option<u64> {
    match plain(value) {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => text(other)?.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    fn array(items: Vec<Value>) -> Value {
        Value::Array(items)
    }

    /// `[id, [task, <task>]]` as every protocol sends it.
    fn stored(id: &str, task: &str) -> Value {
        array(vec![bulk(id), array(vec![bulk("task"), bulk(task)])])
    }

    fn entry_of(id: &str, task: &str) -> Entry {
        Entry {
            id: id.to_owned(),
            fields: vec![(b"task".to_vec(), task.as_bytes().to_vec())],
        }
    }

    #[test]
    fn xrange_entries_with_binary_values() {
        let reply = array(vec![
            stored("1-1", "a"),
            array(vec![
                bulk("1-2"),
                array(vec![
                    bulk("raw"),
                    Value::BulkString(vec![0xff, 0x00]),
                    bulk("reason"),
                    bulk("bad"),
                ]),
            ]),
        ]);
        let entries = stream_entries(&reply);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], entry_of("1-1", "a"));
        assert_eq!(entries[1].field("raw"), Some(&[0xff, 0x00][..]));
        assert_eq!(entries[1].field("reason"), Some(&b"bad"[..]));
        assert_eq!(entries[1].field("task"), None);
        assert!(stream_entries(&Value::Nil).is_empty());
    }

    #[test]
    fn xreadgroup_in_resp2_is_an_array_of_streams() {
        let reply = array(vec![array(vec![
            bulk("plba:{q}:stream"),
            array(vec![stored("5-0", "t")]),
        ])]);
        assert_eq!(read_group_entries(&reply), vec![entry_of("5-0", "t")]);
    }

    #[test]
    fn xreadgroup_in_resp3_is_a_map_of_streams() {
        let reply = Value::Map(vec![(
            bulk("plba:{q}:stream"),
            array(vec![stored("5-0", "t"), stored("5-1", "u")]),
        )]);
        assert_eq!(
            read_group_entries(&reply),
            vec![entry_of("5-0", "t"), entry_of("5-1", "u")]
        );
    }

    #[test]
    fn xreadgroup_timed_out_is_nil_in_both() {
        assert!(read_group_entries(&Value::Nil).is_empty());
    }

    #[test]
    fn attributes_around_a_reply_are_ignored() {
        let reply = Value::Attribute {
            data: Box::new(array(vec![stored("1-1", "a")])),
            attributes: vec![(bulk("ttl"), Value::Int(3))],
        };
        assert_eq!(stream_entries(&reply), vec![entry_of("1-1", "a")]);
    }

    #[test]
    fn xpending_summary_and_extended_replies() {
        // The same in both protocols, except that RESP3 sends the per-consumer counts as
        // text (unused here).
        let summary = array(vec![
            Value::Int(2),
            bulk("1-1"),
            bulk("1-2"),
            array(vec![array(vec![bulk("c"), bulk("2")])]),
        ]);
        assert_eq!(pending_count(&summary), 2);
        // An empty group: count 0 and nils.
        let empty = array(vec![Value::Int(0), Value::Nil, Value::Nil, Value::Nil]);
        assert_eq!(pending_count(&empty), 0);
        assert_eq!(pending_count(&Value::Nil), 0);

        let extended = array(vec![
            array(vec![bulk("1-1"), bulk("c"), Value::Int(104), Value::Int(1)]),
            array(vec![
                Value::SimpleString("1-2".to_owned()),
                bulk("c"),
                Value::Int(99),
                Value::Int(1),
            ]),
        ]);
        assert_eq!(pending_ids(&extended), ["1-1", "1-2"]);
        assert!(pending_ids(&array(Vec::new())).is_empty());
    }

    fn group_info_resp2(name: &str, consumers: i64) -> Value {
        array(vec![
            bulk("name"),
            bulk(name),
            bulk("consumers"),
            Value::Int(consumers),
            bulk("pending"),
            Value::Int(0),
            bulk("last-delivered-id"),
            bulk("0-0"),
        ])
    }

    fn group_info_resp3(name: &str, consumers: i64) -> Value {
        Value::Map(vec![
            (bulk("name"), bulk(name)),
            (bulk("consumers"), Value::Int(consumers)),
            (bulk("pending"), Value::Int(0)),
            (bulk("last-delivered-id"), bulk("0-0")),
        ])
    }

    #[test]
    fn xinfo_groups_in_resp2_is_a_list_of_flat_arrays() {
        let reply = array(vec![
            group_info_resp2("other", 7),
            group_info_resp2("workers", 3),
        ]);
        assert_eq!(group_consumers(&reply, "workers"), Some(3));
        assert_eq!(group_consumers(&reply, "missing"), None);
    }

    #[test]
    fn xinfo_groups_in_resp3_is_a_list_of_maps() {
        let reply = array(vec![
            group_info_resp3("other", 7),
            group_info_resp3("workers", 3),
        ]);
        assert_eq!(group_consumers(&reply, "workers"), Some(3));
        assert_eq!(group_consumers(&reply, "missing"), None);
        assert_eq!(group_consumers(&Value::Nil, "workers"), None);
    }
}

//! Decoding the tagged sections (`source`, `queue`, `store`): the `kind` key picks the
//! variant (`maildir`, `memory` and `sqlite` when absent), and a kind whose adapter this
//! build lacks decodes to [`NotBuilt`] rather than failing, so the grammar is the same in
//! every build.
//!
//! Not serde's `#[serde(tag = "kind")]`: it cannot default a missing tag, and cannot follow
//! an error's path into the variant's keys.

use plba_contracts::nested_key_error;
use serde::{Deserialize, Deserializer};

use super::adapter::{Adapter, NotBuilt};
use super::schema::{QueueConfig, SourceConfig, StoreConfig};

/// A tagged section as its `kind` (or `default` when absent) and the rest of its keys.
fn split_kind<'de, D: Deserializer<'de>>(
    deserializer: D,
    default: &str,
) -> Result<(String, serde_json::Value), D::Error> {
    let mut body = serde_json::Map::deserialize(deserializer)?;
    let kind = match body.remove("kind") {
        None => default.to_owned(),
        Some(serde_json::Value::String(kind)) => kind.to_ascii_lowercase(),
        Some(other) => {
            return Err(nested_key_error(
                "kind",
                format!("expected a name, found {other}"),
            ));
        }
    };
    Ok((kind, serde_json::Value::Object(body)))
}

/// Decodes the body of a tagged section on its own, so an error names the key inside it
/// (serde cannot follow the path into a flattened, internally tagged enum).
fn decode_body<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    body: serde_json::Value,
) -> Result<T, E> {
    serde_path_to_error::deserialize(body).map_err(|error| {
        let path = error.path().to_string();
        nested_key_error(&path, error.into_inner())
    })
}

impl<'de> Deserialize<'de> for SourceConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (kind, body) = split_kind(deserializer, "maildir")?;
        Self::decode(&kind, body, Adapter::compiled_in)
    }
}

impl SourceConfig {
    /// The source `kind` names, decoded from `body` when `built` has its adapter, else
    /// [`SourceConfig::NotBuilt`]. (`built` is [`Adapter::compiled_in`] but for tests.)
    pub(super) fn decode<E: serde::de::Error>(
        kind: &str,
        body: serde_json::Value,
        built: impl Fn(Adapter) -> bool,
    ) -> Result<Self, E> {
        let adapter = match kind {
            "maildir" => Adapter::Maildir,
            "imap_poll" | "imap_idle" => Adapter::Imap,
            other => {
                return Err(nested_key_error(
                    "kind",
                    format!("unknown kind {other:?}; expected maildir, imap_poll or imap_idle"),
                ));
            }
        };
        if built(adapter)
            && let Some(source) = Self::compiled(kind, body)
        {
            return source;
        }
        Ok(Self::NotBuilt(NotBuilt::new(kind, adapter)))
    }

    /// The variant for `kind` when this build has it.
    fn compiled<E: serde::de::Error>(
        kind: &str,
        body: serde_json::Value,
    ) -> Option<Result<Self, E>> {
        match kind {
            #[cfg(feature = "maildir")]
            "maildir" => Some(decode_body(body).map(|maildir| Self::Maildir { maildir })),
            #[cfg(feature = "imap")]
            "imap_poll" => Some(decode_body(body).map(|imap| Self::ImapPoll { imap })),
            #[cfg(feature = "imap")]
            "imap_idle" => Some(decode_body(body).map(|imap| Self::ImapIdle { imap })),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for QueueConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (kind, body) = split_kind(deserializer, "memory")?;
        Self::decode(&kind, body, Adapter::compiled_in)
    }
}

impl QueueConfig {
    /// The queue `kind` names, decoded from `body` when `built` has its adapter, else
    /// [`QueueConfig::NotBuilt`]. (`built` is [`Adapter::compiled_in`] but for tests.)
    pub(super) fn decode<E: serde::de::Error>(
        kind: &str,
        body: serde_json::Value,
        built: impl Fn(Adapter) -> bool,
    ) -> Result<Self, E> {
        match kind {
            "memory" => decode_body(body).map(|memory| Self::Memory { memory }),
            "redis" => {
                if built(Adapter::Redis)
                    && let Some(queue) = Self::compiled_redis(body)
                {
                    return queue;
                }
                Ok(Self::NotBuilt(NotBuilt::new(kind, Adapter::Redis)))
            }
            other => Err(nested_key_error(
                "kind",
                format!("unknown kind {other:?}; expected memory or redis"),
            )),
        }
    }

    /// The Redis variant when this build has it.
    #[cfg(feature = "redis")]
    fn compiled_redis<E: serde::de::Error>(body: serde_json::Value) -> Option<Result<Self, E>> {
        Some(decode_body(body).map(|redis| Self::Redis { redis }))
    }

    /// The Redis variant when this build has it.
    #[cfg(not(feature = "redis"))]
    fn compiled_redis<E: serde::de::Error>(_body: serde_json::Value) -> Option<Result<Self, E>> {
        None
    }
}

/// The keys of the SQLite store's options.
const SQLITE_KEYS: &[&str] = &["sqlite_path"];

/// The keys of the PostgreSQL store's options.
const POSTGRES_KEYS: &[&str] = &["url", "password", "pool_size", "statement_timeout_ms"];

/// `body` without the keys of another store kind. The store section was one struct taking
/// every kind's keys before it was tagged: a key of the other kind is still accepted and
/// ignored, so a file whose store leaves `kind` out (its `sqlite_path` stays in the merge)
/// still loads when an environment variable switches the kind to PostgreSQL.
fn without_keys(mut body: serde_json::Value, keys: &[&str]) -> serde_json::Value {
    if let Some(map) = body.as_object_mut() {
        map.retain(|key, _| !keys.contains(&key.as_str()));
    }
    body
}

impl<'de> Deserialize<'de> for StoreConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (kind, body) = split_kind(deserializer, "sqlite")?;
        Self::decode(&kind, body, Adapter::compiled_in)
    }
}

impl StoreConfig {
    /// The store `kind` names, decoded from `body` when `built` has its adapter, else
    /// [`StoreConfig::NotBuilt`]. (`built` is [`Adapter::compiled_in`] but for tests.)
    pub(super) fn decode<E: serde::de::Error>(
        kind: &str,
        body: serde_json::Value,
        built: impl Fn(Adapter) -> bool,
    ) -> Result<Self, E> {
        match kind {
            "sqlite" => {
                decode_body(without_keys(body, POSTGRES_KEYS)).map(|sqlite| Self::Sqlite { sqlite })
            }
            "postgres" => {
                if built(Adapter::Postgres)
                    && let Some(store) = Self::compiled_postgres(without_keys(body, SQLITE_KEYS))
                {
                    return store;
                }
                Ok(Self::NotBuilt(NotBuilt::new(kind, Adapter::Postgres)))
            }
            other => Err(nested_key_error(
                "kind",
                format!("unknown kind {other:?}; expected sqlite or postgres"),
            )),
        }
    }

    /// The PostgreSQL variant when this build has it.
    #[cfg(feature = "postgres")]
    fn compiled_postgres<E: serde::de::Error>(body: serde_json::Value) -> Option<Result<Self, E>> {
        Some(decode_body(body).map(|postgres| Self::Postgres { postgres }))
    }

    /// The PostgreSQL variant when this build has it.
    #[cfg(not(feature = "postgres"))]
    fn compiled_postgres<E: serde::de::Error>(_body: serde_json::Value) -> Option<Result<Self, E>> {
        None
    }
}

//! A layer of values from a configuration store (a database shared by every instance), between
//! the file and the environment: each value under its key path, as YAML text, typed as if it
//! were written in the file. Errors name the store, the revision and the key.

use std::collections::BTreeMap;

use figment::value::{Dict, Value};

use crate::bounded_yaml::Budget;
use crate::error::ConfigLoadError;

/// The values a configuration store holds at one revision.
///
/// ```
/// use plba_config::{ConfigSource, StoredLayer};
///
/// let layer = StoredLayer {
///     origin: "database plba@db.example".to_owned(),
///     revision: 7,
///     values: vec![("app.limit".to_owned(), "5".to_owned())],
/// };
/// let snapshot = ConfigSource::new()
///     .with_defaults("defaults", "app:\n  limit: 1\n  name: bot\n")
///     .with_stored_layer(layer)
///     .with_env_vars(Vec::<(String, String)>::new())
///     .load()
///     .unwrap();
/// let app: serde_json::Value = snapshot.section("app").unwrap().unwrap();
/// assert_eq!((app["limit"].as_i64(), app["name"].as_str()), (Some(5), Some("bot")));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredLayer {
    /// Which store, for errors (no password): `database plba@db.example`.
    pub origin: String,
    /// The store's revision these values are at.
    pub revision: u64,
    /// Each dotted key path with its value as YAML text.
    pub values: Vec<(String, String)>,
}

impl StoredLayer {
    /// The name errors give a value of this layer.
    pub(crate) fn origin_of(&self, key: &str) -> String {
        format!("{} revision {} key {key}", self.origin, self.revision)
    }

    /// The layer as one map: rows in key order, so a deeper key (`app.limit`) replaces what
    /// a shallower one (`app`) says of it. A secret is refused: a store keeps `<key>_file`,
    /// naming a file, never the secret itself.
    pub(crate) fn to_dict(
        &self,
        budget: &Budget,
        whole: &[String],
    ) -> Result<Dict, ConfigLoadError> {
        let mut rows: Vec<&(String, String)> = self.values.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let mut merged = Dict::new();
        for (key, text) in rows {
            // A key is checked before it is named anywhere, so what a row holds never
            // reaches a terminal or a log line raw.
            if !is_key_path(key) {
                return Err(stored_error(
                    self.origin_of(&plba_util::printable(key)),
                    "is not a key path: dotted names of letters, digits, `_`, `-` and `@`",
                ));
            }
            let origin = self.origin_of(key);
            if let Some(stated) = whole.iter().find(|w| key.starts_with(&format!("{w}."))) {
                return Err(stored_error(
                    origin,
                    &format!(
                        "`{stated}` is stated whole (a higher source replaces it entirely): set `{stated}` itself, as one map"
                    ),
                ));
            }
            crate::source::check_key_depth(&origin, key).map_err(as_stored)?;
            let value = crate::source::value_of(text, budget, &origin, true).map_err(as_stored)?;
            if let Some(secret) = secret_within(key, &value) {
                return Err(stored_error(
                    origin,
                    &format!(
                        "`{secret}` is a secret: a configuration store keeps `{secret}_file`, naming a file that holds it, never the secret itself"
                    ),
                ));
            }
            if let Some(url) = url_with_password(key, &value) {
                return Err(stored_error(
                    origin,
                    &format!(
                        "`{url}` holds a URL with a password, which the history would keep for good: give the password apart (a `password_file`, or the environment)"
                    ),
                ));
            }
            let nested = figment::util::nest(key, value)
                .into_dict()
                .unwrap_or_default();
            if names_the_store(&nested) {
                return Err(stored_error(
                    origin,
                    &format!(
                        "`{}` says where the store is, so it is read before the store: set it in the file or the environment",
                        crate::CONFIG_STORE_KEY
                    ),
                ));
            }
            if names_control(&nested) {
                return Err(stored_error(
                    origin,
                    "`platform.control` (who may reach and change an instance) is set in the file or the environment only",
                ));
            }
            merge_into(&mut merged, nested);
        }
        Ok(merged)
    }
}

/// A value's error told as the database's, not as an override's.
fn as_stored(error: ConfigLoadError) -> ConfigLoadError {
    match error {
        ConfigLoadError::Override {
            origin,
            what,
            source,
        } => ConfigLoadError::Stored {
            origin,
            what,
            source,
        },
        other => other,
    }
}

fn stored_error(origin: String, what: &str) -> ConfigLoadError {
    ConfigLoadError::Stored {
        origin,
        what: what.to_owned(),
        source: None,
    }
}

/// The first path at or under `key` in `value` that is a secret (a `*_file` key names a file
/// and is allowed).
fn secret_within(key: &str, value: &Value) -> Option<String> {
    let last = key.rsplit('.').next().unwrap_or(key);
    if last.ends_with("_file") {
        return None;
    }
    match value {
        Value::Dict(_, dict) => dict
            .iter()
            .find_map(|(child, value)| secret_within(&format!("{key}.{child}"), value)),
        Value::Array(_, items) => items
            .iter()
            .enumerate()
            .find_map(|(index, value)| secret_within(&format!("{key}[{index}]"), value)),
        _ => crate::secrets::may_hold_secret(key, &BTreeMap::new()).then(|| key.to_owned()),
    }
}

/// Whether `dict` sets anything under `platform.config_store`.
fn names_the_store(dict: &Dict) -> bool {
    match dict.get("platform") {
        Some(Value::Dict(_, platform)) => platform.contains_key("config_store"),
        _ => false,
    }
}

/// Whether `dict` sets anything under `platform.control`.
fn names_control(dict: &Dict) -> bool {
    match dict.get("platform") {
        Some(Value::Dict(_, platform)) => platform.contains_key("control"),
        _ => false,
    }
}

/// Whether `key` is a key path a store may hold: dotted names of the characters a
/// configuration's keys use (an allowlist's addresses go in its map, whole), at most 256
/// bytes.
pub fn is_key_path(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 256
        && key.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@'))
        })
}

/// The first path at or under `key` in `value` whose string is a URL carrying a password,
/// in its user information or its query (`?password=`).
fn url_with_password(key: &str, value: &Value) -> Option<String> {
    match value {
        Value::Dict(_, dict) => dict
            .iter()
            .find_map(|(child, value)| url_with_password(&format!("{key}.{child}"), value)),
        Value::Array(_, items) => items
            .iter()
            .enumerate()
            .find_map(|(index, value)| url_with_password(&format!("{key}[{index}]"), value)),
        Value::String(_, text) => {
            let lower = text.to_ascii_lowercase();
            let in_query = lower.contains("://")
                && lower
                    .split_once('?')
                    .is_some_and(|(_, query)| query.split('&').any(|p| p.starts_with("password=")));
            (crate::secrets::mask_url_password(text).is_some() || in_query).then(|| key.to_owned())
        }
        _ => None,
    }
}

/// Puts `higher` into `lower`: maps merge key by key, anything else replaces.
fn merge_into(lower: &mut Dict, higher: Dict) {
    for (key, value) in higher {
        match (lower.get_mut(&key), value) {
            (Some(Value::Dict(_, low)), Value::Dict(_, high)) => merge_into(low, high),
            (_, value) => {
                lower.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::ConfigSource;

    fn layer(values: &[(&str, &str)]) -> StoredLayer {
        StoredLayer {
            origin: "database plba@db".to_owned(),
            revision: 7,
            values: values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn source(values: &[(&str, &str)]) -> ConfigSource {
        ConfigSource::new()
            .with_defaults("defaults", "app:\n  limit: 1\n  names: [a]\n")
            .with_stored_layer(layer(values))
    }

    #[test]
    fn the_store_is_above_the_file_and_below_the_environment_and_set() {
        let loaded = |source: ConfigSource| {
            let snapshot = source.load().unwrap();
            snapshot
                .section::<serde_json::Value>("app")
                .unwrap()
                .unwrap()
        };
        let stored = source(&[("app.limit", "5"), ("app.names", "[b, c]")]);
        let app = loaded(stored.clone().with_env_vars(Vec::<(String, String)>::new()));
        assert_eq!(app["limit"], 5);
        assert_eq!(app["names"], serde_json::json!(["b", "c"]));
        let app = loaded(stored.clone().with_env_vars([("PLBA__APP__LIMIT", "6")]));
        assert_eq!(app["limit"], 6, "the environment wins over the store");
        let app = loaded(
            stored
                .with_env_vars(Vec::<(String, String)>::new())
                .with_override("app.limit=8"),
        );
        assert_eq!(app["limit"], 8);
    }

    #[test]
    fn a_deeper_key_wins_over_a_shallower_one_of_the_same_revision() {
        let snapshot = source(&[("app.limit", "9"), ("app", "{limit: 2, extra: x}")])
            .with_env_vars(Vec::<(String, String)>::new())
            .load()
            .unwrap();
        let app: serde_json::Value = snapshot.section("app").unwrap().unwrap();
        assert_eq!(
            (app["limit"].as_i64(), app["extra"].as_str()),
            (Some(9), Some("x"))
        );
    }

    #[test]
    fn a_secret_is_refused_and_a_file_naming_it_allowed() {
        let refused = |values: &[(&str, &str)]| {
            source(values)
                .with_env_vars(Vec::<(String, String)>::new())
                .load()
                .unwrap_err()
                .to_string()
        };
        let error = refused(&[("app.password", "hunter2-hunter2")]);
        assert!(
            error.contains("database plba@db revision 7 key app.password")
                && error.contains("_file")
                && !error.contains("hunter2"),
            "{error}"
        );
        let nested = refused(&[("app", "{db: {password: x}}")]);
        assert!(nested.contains("`app.db.password`"), "{nested}");
        let budget = Budget::new(1 << 20);
        layer(&[("app.password_file", "/run/secrets/db")])
            .to_dict(&budget, &[])
            .unwrap();
        let url = refused(&[("app.queue", "{url: 'redis://:hunter2@db:6379/'}")]);
        assert!(
            url.contains("`app.queue.url` holds a URL with a password") && !url.contains("hunter2"),
            "{url}"
        );
        let query = refused(&[("app.url", "postgres://u@db/x?sslmode=require&password=pw")]);
        assert!(query.contains("holds a URL with a password"), "{query}");
    }

    #[test]
    fn a_key_with_other_characters_is_refused_and_never_shown_raw() {
        let error = source(&[("app.\u{1b}[31mred", "1")])
            .with_env_vars(Vec::<(String, String)>::new())
            .load()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("is not a key path") && !error.contains('\u{1b}'),
            "{error}"
        );
    }

    #[test]
    fn a_whole_value_is_set_whole_and_the_control_plane_only_in_the_file() {
        let refused = |values: &[(&str, &str)]| {
            source(values)
                .with_whole_value("app.names")
                .with_env_vars(Vec::<(String, String)>::new())
                .load()
                .unwrap_err()
                .to_string()
        };
        let part = refused(&[("app.names.x", "1")]);
        assert!(part.contains("`app.names` is stated whole"), "{part}");
        for values in [
            &[("platform.control.bind", "0.0.0.0:9090")][..],
            &[("platform", "{control: {tokens: []}}")][..],
        ] {
            let control = refused(values);
            assert!(
                control.contains("file or the environment only"),
                "{control}"
            );
        }
    }

    #[test]
    fn the_store_cannot_say_where_the_store_is() {
        for values in [
            &[("platform.config_store.url", "sqlite://elsewhere.db")][..],
            &[("platform", "{config_store: {url: 'sqlite://x.db'}}")][..],
        ] {
            let error = source(values)
                .with_env_vars(Vec::<(String, String)>::new())
                .load()
                .unwrap_err()
                .to_string();
            assert!(error.contains("read before the store"), "{error}");
        }
    }

    #[test]
    fn a_value_that_is_not_yaml_is_refused_not_taken_for_text() {
        let error = source(&[("app.names", "{a: [")])
            .with_env_vars(Vec::<(String, String)>::new())
            .load()
            .unwrap_err();
        let text = plba_util::error_chain(&error);
        assert!(
            text.contains("revision 7 key app.names: is not YAML"),
            "{text}"
        );
    }

    #[test]
    fn a_bad_value_names_the_store_the_revision_and_the_key() {
        let error = source(&[("app..limit", "1")])
            .with_env_vars(Vec::<(String, String)>::new())
            .load()
            .unwrap_err()
            .to_string();
        assert!(error.contains("revision 7 key app..limit"), "{error}");
    }
}

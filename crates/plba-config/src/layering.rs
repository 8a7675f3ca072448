//! How one source's values replace, rather than merge into, those of the sources below it.
//!
//! figment merges maps key by key. Two kinds of map must not be merged that way:
//! - a *tagged* section (one with a `kind` key): switching `kind` in a higher source must not
//!   inherit the keys the lower source wrote for the other kind (an IMAP source must never
//!   receive a Maildir `path`);
//! - a *whole-value* key that a launcher declares, such as an allowlist: a higher source
//!   states the whole list, so entries of a lower source must not survive into it.
//!
//! Pruning the lower sources before figment merges them keeps figment's record of where each
//! remaining value came from, so errors still name the file line, env variable or `--set`.

use figment::value::{Dict, Value};

/// The key that names the variant of a tagged section.
const TAG: &str = "kind";

/// What the launcher declared about particular keys.
#[derive(Clone, Debug, Default)]
pub(crate) struct Declared {
    /// Dotted key paths whose value a higher source always replaces.
    pub(crate) whole: Vec<String>,
    /// Tagged sections and the `kind` they have when a source leaves it out.
    pub(crate) tagged: Vec<(String, String)>,
}

/// Removes from `lower` whatever `higher` replaces as a whole.
pub(crate) fn prune_replaced(lower: &mut Dict, higher: &Dict, declared: &Declared) {
    prune_at(lower, higher, "", declared);
}

fn prune_at(lower: &mut Dict, higher: &Dict, prefix: &str, declared: &Declared) {
    for (key, high) in higher {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if declared.whole.contains(&path) {
            lower.remove(key);
            continue;
        }
        let (Some(Value::Dict(_, low)), Value::Dict(_, high)) = (lower.get_mut(key), high) else {
            continue;
        };
        let default_kind = declared
            .tagged
            .iter()
            .find(|(tagged, _)| *tagged == path)
            .map(|(_, kind)| kind.as_str());
        if switches_kind(low, high, default_kind) {
            lower.remove(key);
        } else {
            prune_at(low, high, &path, declared);
        }
    }
}

/// Whether the higher map names a `kind` other than the lower one's. A map without `kind`
/// has the declared default kind, if any; otherwise it cannot be compared and is merged.
fn switches_kind(lower: &Dict, higher: &Dict, default_kind: Option<&str>) -> bool {
    let Some(high) = higher.get(TAG).and_then(tag_text) else {
        return false;
    };
    let low = match lower.get(TAG) {
        Some(low) => tag_text(low),
        None => default_kind.map(str::to_ascii_lowercase),
    };
    low.is_some_and(|low| low != high)
}

fn tag_text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use figment::value::{Dict, Value};

    use super::{Declared, prune_replaced};

    fn whole(paths: &[&str]) -> Declared {
        Declared {
            whole: paths.iter().map(|p| (*p).to_owned()).collect(),
            tagged: Vec::new(),
        }
    }

    fn dict(yaml: &str) -> Dict {
        let value: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        Value::serialize(value).unwrap().into_dict().unwrap()
    }

    fn yaml(dict: &Dict) -> serde_yaml::Value {
        serde_yaml::to_value(dict).unwrap()
    }

    #[test]
    fn a_switched_kind_drops_the_other_kinds_keys() {
        let mut lower = dict("app:\n  source:\n    kind: maildir\n    path: data\n  workers: 3\n");
        let higher = dict("app:\n  source:\n    kind: imap_idle\n    host: h\n");
        prune_replaced(&mut lower, &higher, &whole(&[]));
        assert_eq!(yaml(&lower), yaml(&dict("app:\n  workers: 3\n")));
    }

    #[test]
    fn the_same_kind_merges_key_by_key() {
        let mut lower = dict("app:\n  source:\n    kind: maildir\n    path: data\n");
        let higher = dict("app:\n  source:\n    kind: Maildir\n    rescan_ms: 5\n");
        let before = yaml(&lower);
        prune_replaced(&mut lower, &higher, &whole(&[]));
        assert_eq!(yaml(&lower), before);
    }

    #[test]
    fn a_map_without_kind_is_merged() {
        let mut lower = dict("app:\n  source:\n    kind: maildir\n    path: data\n");
        let higher = dict("app:\n  source:\n    path: other\n");
        let before = yaml(&lower);
        prune_replaced(&mut lower, &higher, &whole(&[]));
        assert_eq!(yaml(&lower), before);
    }

    #[test]
    fn a_map_without_kind_has_its_declared_default_kind() {
        let mut lower = dict("app:\n  source:\n    path: data\n");
        let higher = dict("app:\n  source:\n    kind: imap_idle\n");
        let declared = Declared {
            whole: Vec::new(),
            tagged: vec![("app.source".to_owned(), "maildir".to_owned())],
        };
        prune_replaced(&mut lower, &higher, &declared);
        assert_eq!(yaml(&lower), yaml(&dict("app: {}\n")));
        let mut same = dict("app:\n  source:\n    path: data\n");
        let higher = dict("app:\n  source:\n    kind: maildir\n");
        prune_replaced(&mut same, &higher, &declared);
        assert_eq!(
            yaml(&same),
            yaml(&dict("app:\n  source:\n    path: data\n"))
        );
    }

    #[test]
    fn a_whole_value_key_is_replaced_not_merged() {
        let mut lower = dict("app:\n  customers:\n    '@demo.example': DEMO\n  workers: 3\n");
        let higher = dict("app:\n  customers:\n    'a@real.example': REAL\n");
        prune_replaced(&mut lower, &higher, &whole(&["app.customers"]));
        assert_eq!(yaml(&lower), yaml(&dict("app:\n  workers: 3\n")));
    }
}

//! Secrets: `<key>_file` indirection, recognising secret keys, redacting them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use plba_contracts::REDACTED;
use serde_json::Value;

use crate::error::ConfigLoadError;

/// Key names that hold secrets wherever they appear. `headers` is included because HTTP
/// headers for collectors usually carry credentials.
const SECRET_WORDS: [&str; 8] = [
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "credential",
];

fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "headers" || SECRET_WORDS.iter().any(|w| lower.contains(w))
}

/// Whether the dotted `path` is, or lies under, a secret.
pub(crate) fn is_secret_path(path: &str, resolved: &BTreeMap<String, String>) -> bool {
    path.split('.').any(is_secret_name)
        || resolved
            .keys()
            .any(|secret| path == secret || path.starts_with(&format!("{secret}.")))
}

/// Whether the value at `path` may be or hold a secret, so an error about it must not show
/// it: a component is secret-named (or lies under `headers`), or the value came from a
/// secret file. The one exception is a field beside the secret in an entry of a list of
/// records: `tokens[0].name` and `tokens[0].role` are not secrets, `tokens[0].token` is.
pub(crate) fn may_hold_secret(path: &str, resolved: &BTreeMap<String, String>) -> bool {
    let normal = path.replace('[', ".").replace(']', "");
    let parts: Vec<&str> = normal.split('.').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        if part.eq_ignore_ascii_case("headers") && i + 1 < parts.len() {
            return true;
        }
        if is_secret_name(part) {
            let entry_field =
                parts.get(i + 1).is_some_and(|p| p.parse::<usize>().is_ok()) && i + 2 < parts.len();
            if !entry_field {
                return true;
            }
        }
    }
    resolved
        .keys()
        .any(|secret| normal == *secret || normal.starts_with(&format!("{secret}.")))
}

/// `url` with the password of its user information replaced by `[redacted]`, when it has
/// one (`redis://:pw@host/` → `redis://:[redacted]@host/`).
pub(crate) fn mask_url_password(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (userinfo, host) = rest[..authority_end].rsplit_once('@')?;
    let (user, _password) = userinfo.split_once(':')?;
    Some(format!(
        "{scheme}://{user}:{REDACTED}@{host}{}",
        &rest[authority_end..]
    ))
}

/// The dotted paths of secret values written as plain values (not through `<key>_file`),
/// so the caller can warn about those that stand in the configuration file.
pub(crate) fn plain_secret_paths(
    value: &Value,
    prefix: &str,
    resolved: &BTreeMap<String, String>,
    found: &mut Vec<String>,
) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        Value::String(_) => {
            if may_hold_secret(prefix, resolved) && !resolved.contains_key(prefix) {
                found.push(prefix.to_owned());
            }
            return;
        }
        _ => return,
    };
    for (key, child) in children {
        let path = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        plain_secret_paths(child, &path, resolved, found);
    }
}

/// Replaces every `<secret key>_file: path` (`password_file`, `token_file`, …) by
/// `<secret key>: <file content>`; records each resolved key
/// with a description of its origin.
pub(crate) fn resolve_files(
    value: &mut Value,
    prefix: &str,
    limit: u64,
    origins: &mut BTreeMap<String, String>,
) -> Result<(), ConfigLoadError> {
    if let Value::Array(items) = value {
        for (index, item) in items.iter_mut().enumerate() {
            resolve_files(item, &format!("{prefix}.{index}"), limit, origins)?;
        }
        return Ok(());
    }
    let Value::Object(map) = value else {
        return Ok(());
    };
    let file_keys: Vec<String> = map
        .iter()
        .filter(|(k, v)| {
            // Only secrets are read from files: `ca_file` or `log_file` name files the
            // program itself opens.
            k.strip_suffix("_file")
                .is_some_and(|base| !base.is_empty() && is_secret_name(base))
                && v.is_string()
        })
        .map(|(k, _)| k.clone())
        .collect();
    for file_key in file_keys {
        let key = file_key.trim_end_matches("_file").to_owned();
        let path_of = |k: &str| {
            if prefix.is_empty() {
                k.to_owned()
            } else {
                format!("{prefix}.{k}")
            }
        };
        if map.contains_key(&key) {
            return Err(ConfigLoadError::Invalid {
                key: path_of(&key),
                origin: None,
                reason: format!("both `{key}` and `{file_key}` are set; keep one"),
            });
        }
        let Some(Value::String(file)) = map.remove(&file_key) else {
            continue;
        };
        let path = PathBuf::from(&file);
        let content = plba_util::read_text_limited(&path, limit).map_err(|e| {
            ConfigLoadError::SecretFile {
                key: path_of(&key),
                path: path.clone(),
                source: e,
            }
        })?;
        let content = content.trim_end_matches(['\n', '\r']).to_owned();
        origins.insert(
            path_of(&key),
            format!("file {} (via `{}`)", path.display(), path_of(&file_key)),
        );
        map.insert(key, Value::String(content));
    }
    for (k, child) in map.iter_mut() {
        let child_prefix = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        resolve_files(child, &child_prefix, limit, origins)?;
    }
    Ok(())
}

/// A copy of `value` with every secret replaced by `[redacted]`.
pub(crate) fn redact(value: &Value, prefix: &str, resolved: &BTreeMap<String, String>) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    let shown = if is_secret_path(&path, resolved) {
                        Value::String(REDACTED.to_owned())
                    } else {
                        redact(v, &path, resolved)
                    };
                    (k.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| redact(v, prefix, resolved)).collect())
        }
        Value::String(text) => mask_url_password(text).map_or_else(|| value.clone(), Value::String),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 64 << 10;

    #[test]
    fn a_secret_file_over_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 64 * 1024 + 1]).unwrap();
        let mut value = serde_json::json!({"control": {"token_file": big}});
        let err = resolve_files(&mut value, "", LIMIT, &mut BTreeMap::new()).unwrap_err();
        let text = plba_util::error_chain(&err);
        assert!(
            text.contains("`control.token`") && text.contains("larger than the limit of 64 KiB"),
            "{text}"
        );
    }

    #[test]
    fn fields_beside_a_secret_in_a_list_entry_are_not_secrets() {
        let none = BTreeMap::new();
        assert!(!may_hold_secret("platform.control.tokens[0].role", &none));
        assert!(!may_hold_secret("platform.control.tokens.1.name", &none));
        assert!(may_hold_secret("platform.control.tokens[0].token", &none));
        assert!(may_hold_secret("app.credentials.key", &none));
        assert!(may_hold_secret("app.passwords.0", &none));
        assert!(may_hold_secret(
            "platform.tracing.otlp.headers.x-api-key",
            &none
        ));
        assert!(!may_hold_secret("app.queue.url", &none));
    }

    #[test]
    fn a_password_in_a_url_is_masked() {
        assert_eq!(
            mask_url_password("redis://:hunter2@db.example:6379/0").as_deref(),
            Some("redis://:[redacted]@db.example:6379/0")
        );
        assert_eq!(
            mask_url_password("postgres://app:pw@h/orders").as_deref(),
            Some("postgres://app:[redacted]@h/orders")
        );
        assert_eq!(mask_url_password("redis://db.example:6379/"), None);
        assert_eq!(mask_url_password("orders@acme.example"), None);
    }

    #[test]
    fn recognises_secret_names_at_any_depth() {
        let none = BTreeMap::new();
        assert!(is_secret_path("imap.password", &none));
        assert!(is_secret_path("control.admin_token", &none));
        assert!(is_secret_path(
            "platform.tracing.otlp.headers.x-api-key",
            &none
        ));
        assert!(!is_secret_path("imap.user", &none));
        let mut resolved = BTreeMap::new();
        resolved.insert("db.url".to_owned(), "file".to_owned());
        assert!(is_secret_path("db.url", &resolved));
        assert!(!is_secret_path("db.urls", &resolved));
    }

    #[test]
    fn files_inside_lists_are_resolved() {
        let dir = std::env::temp_dir().join(format!("plba-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "t0k\n").unwrap();
        let mut value =
            serde_json::json!({"tokens": [{"name": "ops", "token_file": file.to_str().unwrap()}]});
        let mut origins = BTreeMap::new();
        resolve_files(&mut value, "", LIMIT, &mut origins).unwrap();
        assert_eq!(value["tokens"][0]["token"], "t0k");
        assert!(origins.contains_key("tokens.0.token"), "{origins:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn both_key_and_key_file_is_an_error() {
        let mut value =
            serde_json::json!({"db": {"password": "a", "password_file": "/nonexistent"}});
        let err = resolve_files(&mut value, "", LIMIT, &mut BTreeMap::new()).unwrap_err();
        assert!(
            err.to_string()
                .contains("both `password` and `password_file`"),
            "{err}"
        );
    }

    #[test]
    fn a_file_setting_that_is_no_secret_stays_a_path() {
        let mut value = serde_json::json!({"imap": {"ca_file": "/etc/ssl/ca.pem"}});
        let mut origins = BTreeMap::new();
        resolve_files(&mut value, "", LIMIT, &mut origins).unwrap();
        assert_eq!(value["imap"]["ca_file"], "/etc/ssl/ca.pem");
        assert!(origins.is_empty());
    }

    #[test]
    fn a_missing_secret_file_names_the_key_and_path() {
        let mut value = serde_json::json!({"db": {"password_file": "/nonexistent/pw"}});
        let err = resolve_files(&mut value, "", LIMIT, &mut BTreeMap::new()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`db.password`") && text.contains("/nonexistent/pw"),
            "{text}"
        );
    }
}

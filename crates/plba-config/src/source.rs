//! Where configuration comes from, and how the sources are merged with figment.

use std::path::{Path, PathBuf};

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use crate::bounded_yaml::{self, Budget, Exceeded, ParseError};
use crate::error::ConfigLoadError;
use crate::layering::{Declared, prune_replaced};
use crate::limits::ConfigLimits;

/// The inputs of a configuration, in increasing precedence: built-in defaults, the YAML
/// file, environment variables with the prefix, `--set` overrides.
///
/// ```
/// use plba_config::ConfigSource;
///
/// let source = ConfigSource::new()
///     .with_defaults("built-in defaults", "app:\n  limit: 1\n")
///     .with_env_vars([("PLBA__APP__LIMIT", "2")])
///     .with_override("app.limit=3");
/// let snapshot = source.load().unwrap();
/// assert_eq!(snapshot.section::<serde_json::Value>("app").unwrap().unwrap()["limit"], 3);
/// ```
#[derive(Clone)]
pub struct ConfigSource {
    defaults: Option<(String, String)>,
    file: Option<PathBuf>,
    env_prefix: String,
    env_vars: Option<Vec<(String, String)>>,
    stored: Option<crate::StoredLayer>,
    overrides: Vec<String>,
    declared: Declared,
    sections: Option<Vec<String>>,
    limits: ConfigLimits,
}

// By hand: `--set` values and environment variables may be secrets; only keys are shown.
impl std::fmt::Debug for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self
            .overrides
            .iter()
            .map(|o| o.split_once('=').map_or(o.as_str(), |(k, _)| k))
            .collect();
        f.debug_struct("ConfigSource")
            .field("defaults", &self.defaults.as_ref().map(|(name, _)| name))
            .field("file", &self.file)
            .field("env_prefix", &self.env_prefix)
            .field("overrides", &keys)
            .finish_non_exhaustive()
    }
}

impl Default for ConfigSource {
    fn default() -> Self {
        Self {
            defaults: None,
            file: None,
            env_prefix: "PLBA__".to_owned(),
            env_vars: None,
            stored: None,
            overrides: Vec::new(),
            declared: Declared::default(),
            sections: None,
            limits: ConfigLimits::default(),
        }
    }
}

impl ConfigSource {
    /// No file, the process environment with prefix `PLBA__`, no overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Built-in defaults as YAML text, named `name` in error messages.
    #[must_use]
    pub fn with_defaults(mut self, name: impl Into<String>, yaml: impl Into<String>) -> Self {
        self.defaults = Some((name.into(), yaml.into()));
        self
    }

    /// The YAML file.
    #[must_use]
    pub fn with_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// Another prefix for environment overrides (default `PLBA__`).
    #[must_use]
    pub fn with_env_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.env_prefix = prefix.into();
        self
    }

    /// Reads these variables instead of the process environment (tests, embedding).
    #[must_use]
    pub fn with_env_vars<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env_vars = Some(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// Adds a `key.path=value` override (as given to `--set`).
    #[must_use]
    pub fn with_override(mut self, assignment: impl Into<String>) -> Self {
        self.overrides.push(assignment.into());
        self
    }

    /// Declares that the value at the dotted `key_path` is stated whole by each source: a
    /// higher source replaces it instead of merging into it (an allowlist, where an entry
    /// left over from a lower source would grant what the higher one never named).
    ///
    /// ```
    /// use plba_config::ConfigSource;
    ///
    /// let source = ConfigSource::new()
    ///     .with_defaults("built-in defaults", "app:\n  allow:\n    demo: 1\n")
    ///     .with_env_vars([("PLBA__APP__ALLOW__REAL", "2")])
    ///     .with_whole_value("app.allow");
    /// let app = source.load().unwrap().section::<serde_json::Value>("app").unwrap().unwrap();
    /// assert_eq!(app["allow"], serde_json::json!({"real": 2}));
    /// ```
    #[must_use]
    pub fn with_whole_value(mut self, key_path: impl Into<String>) -> Self {
        self.declared.whole.push(key_path.into());
        self
    }

    /// Declares the tagged section at `key_path` (a map chosen by its `kind` key) and the kind
    /// it has when a source leaves `kind` out, so a higher source that names another kind
    /// replaces it whole even when the lower one relied on the default.
    ///
    /// ```
    /// use plba_config::ConfigSource;
    ///
    /// let source = ConfigSource::new()
    ///     .with_defaults("file", "app:\n  source:\n    path: /srv/mail\n")
    ///     .with_env_vars([("PLBA__APP__SOURCE__KIND", "imap_idle")])
    ///     .with_tagged("app.source", "maildir");
    /// let app = source.load().unwrap().section::<serde_json::Value>("app").unwrap().unwrap();
    /// assert_eq!(app["source"], serde_json::json!({"kind": "imap_idle"}));
    /// ```
    #[must_use]
    pub fn with_tagged(
        mut self,
        key_path: impl Into<String>,
        default_kind: impl Into<String>,
    ) -> Self {
        self.declared
            .tagged
            .push((key_path.into(), default_kind.into()));
        self
    }

    /// Names the module sections that may appear besides `platform` and `log`; any other
    /// top-level section is then an error (a misspelt section would otherwise be ignored and
    /// the module would run on its defaults). Without this call any section is accepted.
    #[must_use]
    pub fn with_sections<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        let known = self.sections.get_or_insert_with(Vec::new);
        known.extend(names.into_iter().map(Into::into));
        self
    }

    /// Other ceilings than the defaults on what the configuration may hold (see
    /// [`ConfigLimits`]); they apply to every reload too.
    #[must_use]
    pub fn with_limits(mut self, limits: ConfigLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The configuration file, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The most of the configuration file that is read, in bytes.
    pub(crate) fn file_limit(&self) -> u64 {
        self.limits.file_bytes
    }

    /// The values of a configuration store (a database every instance shares), above the
    /// file and below the environment and `--set`.
    #[must_use]
    pub fn with_stored_layer(mut self, layer: crate::StoredLayer) -> Self {
        self.stored = Some(layer);
        self
    }

    /// Reads and merges every source into a validated snapshot.
    pub fn load(&self) -> Result<crate::ConfigSnapshot, ConfigLoadError> {
        crate::ConfigSnapshot::build(self.merge()?, 0)
    }

    pub(crate) fn merge(&self) -> Result<Merged, ConfigLoadError> {
        // Lowest precedence first, each with its source: defaults 0, file 1, a configuration
        // store 2, env 3, `--set` 4.
        // A source replaces what a lower source states, never what its own other entries
        // (one per variable or argument, for precise origins) state.
        let mut layers: Vec<(u8, Entry)> = Vec::new();
        // One budget for all sources: what they expand to together is what is held.
        let budget = Budget::new(self.limits.expanded_bytes);
        if let Some((name, yaml)) = &self.defaults {
            let value = parse_document(yaml, &budget).map_err(|e| match e {
                DocumentError::TooLarge(which) => too_large(name.clone(), &budget, which),
                DocumentError::Invalid(what, source) => ConfigLoadError::Override {
                    origin: name.clone(),
                    what,
                    source,
                },
            })?;
            layers.push((0, Entry::root(name.clone(), value)));
        }
        let mut file_text = None;
        let mut file_modified = None;
        if let Some(path) = &self.file {
            let text = plba_util::read_text_limited(path, self.limits.file_bytes).map_err(|e| {
                ConfigLoadError::Unreadable {
                    path: path.clone(),
                    source: e,
                }
            })?;
            let value = parse_document(&text, &budget).map_err(|e| match e {
                DocumentError::TooLarge(which) => too_large(
                    format!("configuration file {}", path.display()),
                    &budget,
                    which,
                ),
                DocumentError::Invalid(what, source) => ConfigLoadError::Syntax {
                    path: path.clone(),
                    what,
                    source,
                },
            })?;
            layers.push((1, Entry::root_file(path.clone(), value)));
            file_modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            file_text = Some((path.clone(), text));
        }
        if let Some(stored) = &self.stored {
            let data = stored.to_dict(&budget, &self.declared.whole)?;
            let origin = format!("{} revision {}", stored.origin, stored.revision);
            layers.push((2, Entry::root(origin, data)));
        }
        let env: Vec<(String, String)> = match &self.env_vars {
            Some(vars) => vars.clone(),
            None => std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        };
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(name, _)| {
                name.starts_with(&self.env_prefix) && name.len() > self.env_prefix.len()
            })
            .collect();
        // Deterministic precedence between two spellings of one key.
        env.sort();
        let overrides = env.len() + self.overrides.len();
        if overrides > MAX_OVERRIDES {
            return Err(ConfigLoadError::Override {
                origin: format!("{}* variables and --set arguments", self.env_prefix),
                what: format!(
                    "{overrides} given, at most {MAX_OVERRIDES}: put the settings in the file"
                ),
                source: None,
            });
        }
        for (name, raw) in env {
            let origin = format!("env {name}");
            let key = env_key(&name[self.env_prefix.len()..]).ok_or_else(|| {
                ConfigLoadError::Override {
                    origin: origin.clone(),
                    what: "empty key component (use `__` only between keys)".to_owned(),
                    source: None,
                }
            })?;
            let value = scalar(&raw, &budget, &origin)?;
            check_key_depth(&origin, &key)?;
            layers.push((3, Entry::keyed(origin, &key, value)));
        }
        for assignment in &self.overrides {
            let (key, raw) =
                assignment
                    .split_once('=')
                    .ok_or_else(|| ConfigLoadError::Override {
                        origin: format!("--set {assignment:?}"),
                        what: "expected key.path=value".to_owned(),
                        source: None,
                    })?;
            let key = key.trim();
            if key.is_empty() || key.split('.').any(str::is_empty) {
                return Err(ConfigLoadError::Override {
                    origin: format!("--set {key}"),
                    what: "empty key component".to_owned(),
                    source: None,
                });
            }
            let origin = format!("--set {key}");
            check_key_depth(&origin, key)?;
            let value = scalar(raw, &budget, &origin)?;
            layers.push((4, Entry::keyed(origin, key, value)));
        }
        for higher in 1..layers.len() {
            let (lower, upper) = layers.split_at_mut(higher);
            let (source, upper) = (upper[0].0, &upper[0].1);
            for (_, layer) in lower.iter_mut().filter(|(s, _)| *s < source) {
                prune_replaced(&mut layer.data, &upper.data, &self.declared);
            }
        }
        let figment = layers
            .into_iter()
            .fold(Figment::new(), |figment, (_, layer)| figment.merge(layer));
        Ok(Merged {
            figment,
            file_text,
            file_modified,
            sections: self.sections.clone(),
            secret_file_bytes: self.limits.secret_file_bytes,
        })
    }
}

/// The merged sources, before validation.
pub(crate) struct Merged {
    pub(crate) figment: Figment,
    pub(crate) file_text: Option<(PathBuf, String)>,
    pub(crate) file_modified: Option<std::time::SystemTime>,
    /// The module sections allowed besides `platform` and `log`, when restricted.
    pub(crate) sections: Option<Vec<String>>,
    /// The largest file a `<secret>_file` setting may name.
    pub(crate) secret_file_bytes: u64,
}

/// Most env variables and `--set` arguments together: each one is a source of its own,
/// merged against those before it, so thousands would take minutes on every reload.
const MAX_OVERRIDES: usize = 1024;

/// Most components of an env variable's or `--set` argument's key: the deepest setting of
/// any section is a handful of levels, and every component is a level of nesting.
const MAX_KEY_DEPTH: usize = 32;

/// Refuses a key nested deeper than [`MAX_KEY_DEPTH`].
pub(crate) fn check_key_depth(origin: &str, key: &str) -> Result<(), ConfigLoadError> {
    let depth = key.split('.').count();
    if depth > MAX_KEY_DEPTH {
        return Err(ConfigLoadError::Override {
            origin: origin.chars().take(80).collect(),
            what: format!("the key has {depth} components, at most {MAX_KEY_DEPTH}"),
            source: None,
        });
    }
    Ok(())
}

/// `APP__MAX_LINES` → `app.max_lines`; `None` when a component is empty.
fn env_key(rest: &str) -> Option<String> {
    let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    if parts.iter().any(String::is_empty) {
        return None;
    }
    Some(parts.join("."))
}

/// An env or `--set` value read as a YAML scalar, as if it stood in the file.
pub(crate) fn scalar(raw: &str, budget: &Budget, origin: &str) -> Result<Value, ConfigLoadError> {
    value_of(raw, budget, origin, false)
}

/// `raw` as a value, as [`scalar`] reads it; but with `strict`, text that is not YAML is an
/// error rather than a string, as it would be in the file (a configuration database's
/// values are YAML as the file's are).
pub(crate) fn value_of(
    raw: &str,
    budget: &Budget,
    origin: &str,
    strict: bool,
) -> Result<Value, ConfigLoadError> {
    let yaml = match bounded_yaml::parse(raw, budget) {
        Ok(yaml) => yaml,
        Err(ParseError::TooLarge(which)) => {
            return Err(too_large(origin.to_owned(), budget, which));
        }
        Err(ParseError::Syntax(error)) if strict => {
            return Err(ConfigLoadError::Override {
                origin: origin.to_owned(),
                what: "is not YAML".to_owned(),
                source: Some(Box::new(error)),
            });
        }
        Err(ParseError::Syntax(_)) => {
            if !budget.charge(raw.len()) {
                return Err(too_large(origin.to_owned(), budget, Exceeded::Bytes));
            }
            serde_yaml::Value::String(raw.to_owned())
        }
    };
    Value::serialize(yaml).map_err(|e| ConfigLoadError::Override {
        origin: origin.to_owned(),
        what: "cannot be represented".to_owned(),
        source: Some(Box::new(e)),
    })
}

/// The error for a source that took the configuration past one of its limits.
fn too_large(origin: String, budget: &Budget, which: Exceeded) -> ConfigLoadError {
    let what = match which {
        Exceeded::Bytes => format!(
            "the configuration expands to more than {} once YAML aliases are written out",
            plba_util::human_bytes(budget.limit())
        ),
        Exceeded::Values => format!(
            "the configuration holds more than {} values",
            bounded_yaml::MAX_VALUES
        ),
        Exceeded::Depth => format!(
            "YAML brackets (`[`, `{{`) nest more than {} deep",
            bounded_yaml::MAX_BRACKET_DEPTH
        ),
    };
    ConfigLoadError::TooLarge { origin, what }
}

/// Why a whole document was refused.
enum DocumentError {
    /// What is wrong and the parser's error, when there is one.
    Invalid(String, Option<Cause>),
    /// It took the configuration past one of its limits.
    TooLarge(Exceeded),
}

/// An underlying parser error.
type Cause = Box<dyn std::error::Error + Send + Sync>;

/// A whole YAML document, which must be a mapping (or empty).
fn parse_document(text: &str, budget: &Budget) -> Result<Dict, DocumentError> {
    let not_a_mapping = || {
        DocumentError::Invalid(
            "the top level must be a mapping of sections".to_owned(),
            None,
        )
    };
    let yaml = bounded_yaml::parse(text, budget).map_err(|e| match e {
        ParseError::TooLarge(which) => DocumentError::TooLarge(which),
        ParseError::Syntax(e) => {
            DocumentError::Invalid("not valid YAML".to_owned(), Some(shared(e)))
        }
    })?;
    if yaml.is_null() {
        return Ok(Dict::new());
    }
    if !yaml.is_mapping() {
        return Err(not_a_mapping());
    }
    let value = Value::serialize(yaml)
        .map_err(|e| DocumentError::Invalid("cannot be represented".to_owned(), Some(shared(e))))?;
    value.into_dict().ok_or_else(not_a_mapping)
}

fn shared(error: impl std::error::Error + Send + Sync + 'static) -> Cause {
    Box::new(error)
}

/// One figment provider: a whole document or a single key, with a name that says where it
/// came from, so errors can point at the env variable or `--set` argument.
struct Entry {
    metadata: Metadata,
    data: Dict,
}

impl Entry {
    fn root(name: String, data: Dict) -> Self {
        Self {
            metadata: Metadata::named(name),
            data,
        }
    }

    fn root_file(path: PathBuf, data: Dict) -> Self {
        Self {
            metadata: Metadata::from("YAML file", figment::Source::File(path)),
            data,
        }
    }

    fn keyed(name: String, key: &str, value: Value) -> Self {
        let data = figment::util::nest(key, value)
            .into_dict()
            .unwrap_or_default();
        Self {
            metadata: Metadata::named(name),
            data,
        }
    }
}

impl Provider for Entry {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.data.clone()))
    }
}

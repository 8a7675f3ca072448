//! The store: values, revisions and history, the same SQL on SQLite and PostgreSQL through
//! sqlx's `Any` driver.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use plba_config::StoredLayer;
use sqlx::{AnyPool, Row};

use crate::ConfigStoreError;

/// The largest value stored, as YAML text: a configuration value is a line or a small map.
const MAX_VALUE_BYTES: usize = 64 * 1024;

/// The longest key read or removed (a key made by hand included).
const MAX_KEY_BYTES: usize = 4 * 1024;

/// The most values one application may hold, and their bytes together: what an instance
/// reads on every poll stays bounded whatever was written by hand.
const MAX_VALUES: i64 = 10_000;
const MAX_LAYER_BYTES: i64 = 16 * 1024 * 1024;

/// One change of a revision: a key set to a value (YAML text), or unset (`None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The dotted key path.
    pub key: String,
    /// The new value, or `None` to unset the key.
    pub value: Option<String>,
}

/// One entry of the history: what a revision did to one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The revision.
    pub revision: u64,
    /// The key.
    pub key: String,
    /// Its value before (`None`: it was not set).
    pub old_value: Option<String>,
    /// Its value after (`None`: unset).
    pub new_value: Option<String>,
    /// Who made the change.
    pub actor: String,
    /// When (unix milliseconds).
    pub at_ms: i64,
    /// Why, when they said.
    pub comment: Option<String>,
}

/// A configuration database.
#[derive(Clone, Debug)]
pub struct ConfigStore {
    pool: AnyPool,
    /// What errors and the layer's origin call it (the URL without its password).
    name: String,
    /// PostgreSQL: every change is announced on [`NOTIFY_CHANNEL`].
    postgres: bool,
}

/// The PostgreSQL channel each change is announced on, in the change's transaction
/// (`apply` spells it out: its SQL is a literal).
pub const NOTIFY_CHANNEL: &str = "plba_config";

/// The advisory lock under which instances create the tables on PostgreSQL.
const SCHEMA_LOCK: i64 = 0x706c_6261_6366; // "plbacf"

/// How long opening waits for a connection: a database that is away is reported, not
/// waited on.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn revision_of(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// `url` with `password` in its user information (PostgreSQL's, when it has none), for
/// connecting only: never shown.
pub(crate) fn with_password(url: &str, password: Option<&str>) -> Result<String, ConfigStoreError> {
    let Some(password) = password.filter(|_| !url.starts_with("sqlite:")) else {
        return Ok(url.to_owned());
    };
    let mut parsed =
        url::Url::parse(url).map_err(|_| ConfigStoreError::BadUrl(without_password(url)))?;
    if parsed.password().is_none() {
        parsed
            .set_password(Some(password))
            .map_err(|()| ConfigStoreError::BadUrl(without_password(url)))?;
    }
    Ok(parsed.to_string())
}

/// `url` as it is shown: without the password of its user information, and without its
/// query, where a password may also sit (`?password=`).
pub(crate) fn without_password(url: &str) -> String {
    let url = url.split('?').next().unwrap_or(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}{}", &rest[end..])
        }
        None => url.to_owned(),
    }
}

fn check_change(change: &Change) -> Result<(), ConfigStoreError> {
    let key = &change.key;
    let fits = plba_config::is_key_path(key);
    // A key made by hand may be anything; removing it must stay possible.
    if !fits && change.value.is_some() {
        return Err(ConfigStoreError::BadKey(printable(key)));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(ConfigStoreError::BadKey(printable(key)));
    }
    if let Some(value) = &change.value
        && value.len() > MAX_VALUE_BYTES
    {
        return Err(ConfigStoreError::TooLarge {
            key: key.clone(),
            bytes: value.len(),
            max: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

/// Makes the directory a SQLite database file goes in, as a file's parent would be
/// expected to exist once named.
fn make_parent_directory(url: &str) -> Result<(), ConfigStoreError> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .and_then(|rest| rest.split('?').next())
        .unwrap_or_default();
    let parent = std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty());
    match parent {
        Some(parent) if !path.contains(":memory:") => std::fs::create_dir_all(parent)
            .map_err(|source| ConfigStoreError::database(format!("directory {} cannot be made", parent.display()))(sqlx::Error::Io(source))),
        _ => Ok(()),
    }
}

/// `text` safe to show on a terminal.
fn printable(text: &str) -> String {
    plba_util::printable(text).into_owned()
}

impl ConfigStore {
    /// Opens (and for SQLite creates) the database at `url` (`sqlite://PATH` or
    /// `postgres://…`), with its tables.
    pub async fn open(url: &str) -> Result<Self, ConfigStoreError> {
        Self::open_as(url, None).await
    }

    /// [`open`](Self::open) with the PostgreSQL user's `password` when the URL has none.
    pub async fn open_as(url: &str, password: Option<&str>) -> Result<Self, ConfigStoreError> {
        let shown = without_password(url);
        let url = with_password(url, password)?;
        let url = url.as_str();
        let sqlite = if plba_sql::is_sqlite(url) {
            true
        } else if plba_sql::is_postgres(url) {
            if cfg!(not(feature = "postgres")) {
                return Err(ConfigStoreError::NoPostgres);
            }
            false
        } else {
            return Err(ConfigStoreError::BadUrl(shown));
        };
        let settings = plba_sql::PoolSettings {
            acquire_timeout: CONNECT_TIMEOUT,
            ..plba_sql::PoolSettings::default()
        };
        if sqlite {
            make_parent_directory(url)?;
        }
        let pool = plba_sql::open_pool(url, settings)
            .await
            .map_err(ConfigStoreError::database("cannot be opened"))?;
        if let Err(error) =
            plba_sql::create_tables(&pool, !sqlite, SCHEMA_LOCK, &crate::schema::ALL).await
        {
            // A role that may only read (an instance needs no more) finds the tables made.
            let mut made = true;
            for table in crate::schema::TABLES {
                let probe = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT 1 FROM {table} WHERE 1 = 0"
                )));
                made &= probe.execute(&pool).await.is_ok();
            }
            if !made {
                return Err(ConfigStoreError::database("cannot create its tables")(
                    error,
                ));
            }
        }
        Ok(Self {
            pool,
            name: format!("database {shown}"),
            postgres: !sqlite,
        })
    }

    /// What errors and the layer's origin call this database: `database URL`, without
    /// the URL's password.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The latest revision of `application` (0 before its first change).
    pub async fn revision(&self, application: &str) -> Result<u64, ConfigStoreError> {
        let row = sqlx::query("SELECT revision FROM plba_config_revisions WHERE application = $1")
            .bind(application.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(ConfigStoreError::database("did not answer"))?;
        let revision: Option<i64> = row
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(ConfigStoreError::database("holds a bad revision"))?;
        Ok(revision.map_or(0, revision_of))
    }

    /// The values of `application` at its latest revision, as the layer a `ConfigSource`
    /// puts above the file.
    pub async fn layer(&self, application: &str) -> Result<StoredLayer, ConfigStoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(ConfigStoreError::database("did not answer"))?;
        if self.postgres {
            // One snapshot for the revision, the sizes and the values: a change committed
            // meanwhile is not half seen.
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await
                .map_err(ConfigStoreError::database("did not answer"))?;
        }
        let revision: Option<i64> =
            sqlx::query("SELECT revision FROM plba_config_revisions WHERE application = $1")
                .bind(application.to_owned())
                .fetch_optional(&mut *tx)
                .await
                .and_then(|row| row.map(|row| row.try_get(0)).transpose())
                .map_err(ConfigStoreError::database("did not answer"))?;
        let size = sqlx::query(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(value) + LENGTH(key)), 0),
                    COALESCE(MAX(LENGTH(value)), 0), COALESCE(MAX(LENGTH(key)), 0)
             FROM plba_config_values WHERE application = $1",
        )
        .bind(application.to_owned())
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| {
            Ok((
                row.try_get::<i64, _>(0)?,
                row.try_get::<i64, _>(1)?,
                row.try_get::<i64, _>(2)?,
                row.try_get::<i64, _>(3)?,
            ))
        })
        .map_err(ConfigStoreError::database("did not answer"))?;
        let (count, bytes, longest_value, longest_key) = size;
        let too_large = |what: &str, bytes: i64, max: i64| ConfigStoreError::TooLarge {
            key: what.to_owned(),
            bytes: usize::try_from(bytes).unwrap_or(usize::MAX),
            max: usize::try_from(max).unwrap_or(usize::MAX),
        };
        if count > MAX_VALUES {
            return Err(ConfigStoreError::TooMany {
                values: u64::try_from(count).unwrap_or(u64::MAX),
                max: MAX_VALUES.unsigned_abs(),
            });
        }
        if bytes > MAX_LAYER_BYTES {
            return Err(too_large("every value together", bytes, MAX_LAYER_BYTES));
        }
        let max_value = i64::try_from(MAX_VALUE_BYTES).unwrap_or(i64::MAX);
        if longest_value > max_value {
            return Err(too_large("a value", longest_value, max_value));
        }
        let max_key = i64::try_from(MAX_KEY_BYTES).unwrap_or(i64::MAX);
        if longest_key > max_key {
            return Err(too_large("a key", longest_key, max_key));
        }
        let rows = sqlx::query(
            "SELECT key, value FROM plba_config_values WHERE application = $1 ORDER BY key",
        )
        .bind(application.to_owned())
        .fetch_all(&mut *tx)
        .await
        .map_err(ConfigStoreError::database("did not answer"))?;
        tx.commit()
            .await
            .map_err(ConfigStoreError::database("did not answer"))?;
        let values = rows
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<Vec<(String, String)>, sqlx::Error>>()
            .map_err(ConfigStoreError::database("holds a bad value"))?;
        Ok(StoredLayer {
            origin: self.name.clone(),
            revision: revision.map_or(0, revision_of),
            values,
        })
    }

    /// Makes `changes` one new revision of `application`, by `actor`, with an optional
    /// `comment`, in one transaction: the values and the history change together or not at
    /// all. The new revision.
    pub async fn apply(
        &self,
        application: &str,
        changes: &[Change],
        actor: &str,
        comment: Option<&str>,
    ) -> Result<u64, ConfigStoreError> {
        self.apply_on(application, None, changes, actor, comment)
            .await
    }

    /// [`apply`](Self::apply), only if `application` is still at revision `base` (the
    /// values the change was checked against); otherwise nothing changes and the answer is
    /// [`ConfigStoreError::Moved`], so a change checked against older values is checked
    /// again rather than committed unchecked.
    pub async fn apply_on(
        &self,
        application: &str,
        base: Option<u64>,
        changes: &[Change],
        actor: &str,
        comment: Option<&str>,
    ) -> Result<u64, ConfigStoreError> {
        for change in changes {
            check_change(change)?;
        }
        let failed = ConfigStoreError::database;
        let mut tx = self.pool.begin().await.map_err(failed("did not answer"))?;
        // The revision row is the writers' lock on PostgreSQL: one writer at a time. Taken
        // first without a change, to compare the revision in force with the one the change
        // was checked against.
        let current: i64 = sqlx::query(
            "INSERT INTO plba_config_revisions (application, revision) VALUES ($1, 0)
             ON CONFLICT (application) DO UPDATE SET revision = plba_config_revisions.revision
             RETURNING revision",
        )
        .bind(application.to_owned())
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(failed("did not lock its revision"))?;
        if let Some(base) = base
            && revision_of(current) != base
        {
            tx.rollback().await.map_err(failed("did not answer"))?;
            return Err(ConfigStoreError::Moved {
                expected: base,
                found: revision_of(current),
            });
        }
        // Past every revision the history holds, even when the row was lowered or removed
        // by hand: a revision number is never given twice.
        let revision: i64 = sqlx::query(
            "UPDATE plba_config_revisions
             SET revision = 1 + CASE
                 WHEN revision >= (SELECT COALESCE(MAX(revision), 0) FROM plba_config_history
                                   WHERE application = $1)
                 THEN revision
                 ELSE (SELECT COALESCE(MAX(revision), 0) FROM plba_config_history
                       WHERE application = $1) END
             WHERE application = $1
             RETURNING revision",
        )
        .bind(application.to_owned())
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(failed("did not make a revision"))?;
        let at = now_ms();
        for change in changes {
            let old: Option<String> = sqlx::query(
                "SELECT value FROM plba_config_values WHERE application = $1 AND key = $2",
            )
            .bind(application.to_owned())
            .bind(change.key.clone())
            .fetch_optional(&mut *tx)
            .await
            .and_then(|row| row.map(|row| row.try_get(0)).transpose())
            .map_err(failed("did not answer"))?;
            match &change.value {
                Some(value) => sqlx::query(
                    "INSERT INTO plba_config_values (application, key, value, revision)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (application, key) DO UPDATE
                     SET value = excluded.value, revision = excluded.revision",
                )
                .bind(application.to_owned())
                .bind(change.key.clone())
                .bind(value.clone())
                .bind(revision),
                None => sqlx::query(
                    "DELETE FROM plba_config_values WHERE application = $1 AND key = $2",
                )
                .bind(application.to_owned())
                .bind(change.key.clone()),
            }
            .execute(&mut *tx)
            .await
            .map_err(failed("did not store a value"))?;
            sqlx::query(
                "INSERT INTO plba_config_history
                     (application, revision, key, old_value, new_value, actor, at_ms, comment)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(application.to_owned())
            .bind(revision)
            .bind(change.key.clone())
            .bind(old)
            .bind(change.value.clone())
            .bind(actor.to_owned())
            .bind(at)
            .bind(comment.map(str::to_owned))
            .execute(&mut *tx)
            .await
            .map_err(failed("did not record the history"))?;
        }
        if self.postgres {
            // Sent at commit, to every instance listening, or not at all.
            sqlx::query("NOTIFY plba_config")
                .execute(&mut *tx)
                .await
                .map_err(failed("did not announce the change"))?;
        }
        tx.commit().await.map_err(failed("did not commit"))?;
        Ok(revision_of(revision))
    }

    /// The newest `limit` history entries of `application` (of `key` only, when given),
    /// newest first.
    pub async fn history(
        &self,
        application: &str,
        key: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, ConfigStoreError> {
        let rows = sqlx::query(
            "SELECT revision, SUBSTR(key, 1, 4096), SUBSTR(old_value, 1, 65536),
                    SUBSTR(new_value, 1, 65536), SUBSTR(actor, 1, 1024), at_ms,
                    SUBSTR(comment, 1, 4096)
             FROM plba_config_history
             WHERE application = $1 AND ($2 = '' OR key = $2)
             ORDER BY revision DESC, key LIMIT $3",
        )
        .bind(application.to_owned())
        .bind(key.unwrap_or_default().to_owned())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(ConfigStoreError::database("did not answer"))?;
        rows.iter()
            .map(|row| {
                Ok(HistoryEntry {
                    revision: revision_of(row.try_get(0)?),
                    key: row.try_get(1)?,
                    old_value: row.try_get(2)?,
                    new_value: row.try_get(3)?,
                    actor: row.try_get(4)?,
                    at_ms: row.try_get(5)?,
                    comment: row.try_get(6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(ConfigStoreError::database("holds a bad history entry"))
    }

    /// The changes that bring `application` back to how it was at `revision`: every key as
    /// it stood then (from the history) where the values now (rows changed by hand
    /// included) differ, and the keys set since unset.
    pub async fn changes_back_to(
        &self,
        application: &str,
        revision: u64,
    ) -> Result<Vec<Change>, ConfigStoreError> {
        let latest = self.revision(application).await?;
        if revision > latest {
            return Err(ConfigStoreError::NoRevision(revision));
        }
        let target = i64::try_from(revision).unwrap_or(i64::MAX);
        // One byte past the largest value, to tell a value too large from one that fits.
        // Each key's last change up to the revision: one row per key ever set.
        let rows = sqlx::query(
            "SELECT h.key, SUBSTR(h.new_value, 1, 65537) FROM plba_config_history h
             WHERE h.application = $1 AND h.revision = (
                 SELECT MAX(e.revision) FROM plba_config_history e
                 WHERE e.application = $1 AND e.key = h.key AND e.revision <= $2)",
        )
        .bind(application.to_owned())
        .bind(target)
        .fetch_all(&self.pool)
        .await
        .map_err(ConfigStoreError::database("did not answer"))?;
        let mut then: BTreeMap<String, Option<String>> = BTreeMap::new();
        for row in &rows {
            let read = || -> Result<(String, Option<String>), sqlx::Error> {
                Ok((row.try_get(0)?, row.try_get(1)?))
            };
            let (key, value) =
                read().map_err(ConfigStoreError::database("holds a bad history entry"))?;
            if let Some(value) = &value
                && value.len() > MAX_VALUE_BYTES
            {
                return Err(ConfigStoreError::TooLarge {
                    key: printable(&key),
                    bytes: value.len(),
                    max: MAX_VALUE_BYTES,
                });
            }
            then.insert(key, value);
        }
        let now: BTreeMap<String, String> =
            self.layer(application).await?.values.into_iter().collect();
        let keys: std::collections::BTreeSet<&String> = then.keys().chain(now.keys()).collect();
        Ok(keys
            .into_iter()
            .filter_map(|key| {
                let wanted = then.get(key).cloned().flatten();
                (wanted.as_ref() != now.get(key)).then(|| Change {
                    key: key.clone(),
                    value: wanted,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    async fn store(dir: &tempfile::TempDir) -> ConfigStore {
        let url = format!("sqlite://{}", dir.path().join("config.db").display());
        ConfigStore::open(&url).await.unwrap()
    }

    fn set(key: &str, value: &str) -> Change {
        Change {
            key: key.to_owned(),
            value: Some(value.to_owned()),
        }
    }

    #[tokio::test]
    async fn each_change_is_a_revision_with_its_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        assert_eq!(store.revision("bot").await.unwrap(), 0);
        let first = store
            .apply("bot", &[set("bot.customers.\"a@x\"", "A")], "ana", None)
            .await;
        assert!(
            matches!(first, Err(ConfigStoreError::BadKey(_))),
            "{first:?}"
        );
        let one = store
            .apply("bot", &[set("bot.workers", "4")], "ana", Some("busier"))
            .await
            .unwrap();
        let two = store
            .apply(
                "bot",
                &[set("bot.workers", "8"), set("bot.queue.capacity", "100")],
                "bob",
                None,
            )
            .await
            .unwrap();
        assert_eq!((one, two), (1, 2));
        let layer = store.layer("bot").await.unwrap();
        assert_eq!(layer.revision, 2);
        assert_eq!(
            layer.values,
            vec![
                ("bot.queue.capacity".to_owned(), "100".to_owned()),
                ("bot.workers".to_owned(), "8".to_owned())
            ]
        );
        assert!(
            layer.origin.starts_with("database sqlite://"),
            "{}",
            layer.origin
        );
        let history = store.history("bot", Some("bot.workers"), 10).await.unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(
            (
                history[0].old_value.as_deref(),
                history[0].new_value.as_deref(),
                history[0].actor.as_str()
            ),
            (Some("4"), Some("8"), "bob")
        );
        assert_eq!(history[1].comment.as_deref(), Some("busier"));
        // Another application's values are its own.
        assert_eq!(store.layer("other").await.unwrap().values, vec![]);
    }

    #[tokio::test]
    async fn a_rollback_is_the_changes_back_to_a_revision() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        store
            .apply("bot", &[set("bot.workers", "4")], "ana", None)
            .await
            .unwrap();
        store
            .apply(
                "bot",
                &[set("bot.workers", "8"), set("bot.summary.time_zone", "UTC")],
                "ana",
                None,
            )
            .await
            .unwrap();
        let back = store.changes_back_to("bot", 1).await.unwrap();
        assert_eq!(
            back,
            vec![
                Change {
                    key: "bot.summary.time_zone".to_owned(),
                    value: None
                },
                set("bot.workers", "4"),
            ]
        );
        let three = store
            .apply("bot", &back, "ana", Some("rollback to 1"))
            .await
            .unwrap();
        assert_eq!(three, 3);
        let layer = store.layer("bot").await.unwrap();
        assert_eq!(
            layer.values,
            vec![("bot.workers".to_owned(), "4".to_owned())]
        );
        assert!(matches!(
            store.changes_back_to("bot", 9).await,
            Err(ConfigStoreError::NoRevision(9))
        ));
    }

    #[tokio::test]
    async fn what_is_changed_by_hand_neither_repeats_a_revision_nor_escapes_a_rollback() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        store
            .apply("bot", &[set("bot.workers", "4")], "ana", None)
            .await
            .unwrap();
        store
            .apply("bot", &[set("bot.workers", "8")], "ana", None)
            .await
            .unwrap();
        // The revisions row removed by hand: the next change still comes after the history.
        sqlx::query("DELETE FROM plba_config_revisions")
            .execute(&store.pool)
            .await
            .unwrap();
        let base = store.revision("bot").await.unwrap();
        let next = store
            .apply_on("bot", Some(base), &[set("bot.workers", "9")], "ana", None)
            .await
            .unwrap();
        assert_eq!(next, 3);
        // A row changed by hand, without a revision: a rollback undoes it too.
        sqlx::query("UPDATE plba_config_values SET value = 'oops' WHERE key = 'bot.workers'")
            .execute(&store.pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO plba_config_values (application, key, value, revision)
             VALUES ('bot', 'bot.\u{1b}[31m', '1', 3)",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        let back = store.changes_back_to("bot", 3).await.unwrap();
        assert_eq!(
            back,
            vec![
                Change {
                    key: "bot.\u{1b}[31m".to_owned(),
                    value: None
                },
                set("bot.workers", "9"),
            ]
        );
        store.apply("bot", &back, "ana", None).await.unwrap();
        assert_eq!(
            store.layer("bot").await.unwrap().values,
            vec![("bot.workers".to_owned(), "9".to_owned())]
        );
    }

    #[tokio::test]
    async fn a_value_too_large_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        sqlx::query(
            "INSERT INTO plba_config_values (application, key, value, revision)
             VALUES ('bot', 'bot.big', $1, 1)",
        )
        .bind("a".repeat(MAX_VALUE_BYTES + 1))
        .execute(&store.pool)
        .await
        .unwrap();
        let read = store.layer("bot").await;
        assert!(
            matches!(read, Err(ConfigStoreError::TooLarge { .. })),
            "{read:?}"
        );
    }

    #[test]
    fn a_password_given_apart_joins_the_url_only_to_connect() {
        assert_eq!(
            with_password("postgres://plba@db:5432/config", Some("p@ss word")).unwrap(),
            "postgres://plba:p%40ss%20word@db:5432/config"
        );
        assert_eq!(
            with_password("postgres://plba:own@db/c", Some("other")).unwrap(),
            "postgres://plba:own@db/c",
            "the URL's own password wins"
        );
        assert_eq!(
            with_password("sqlite://data/c.db", Some("x")).unwrap(),
            "sqlite://data/c.db"
        );
    }

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(
            without_password("postgres://plba:secret@db:5432/config"),
            "postgres://plba@db:5432/config"
        );
        assert_eq!(without_password("sqlite://data/c.db"), "sqlite://data/c.db");
        assert_eq!(
            without_password("postgres://u@db/c?password=pw&sslmode=require"),
            "postgres://u@db/c"
        );
    }
}

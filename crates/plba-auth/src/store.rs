//! The users' database: SQLite beside the application or PostgreSQL shared by several
//! instances, the same SQL on both through sqlx's `Any` driver.

use std::time::{SystemTime, UNIX_EPOCH};

use plba_config::{ControlRole, UsersStore};
use serde::Serialize;
use sqlx::{AnyPool, Row};

use crate::AuthError;
use crate::password::{self, Checked};

/// A user as the control plane and the CLI show it (never the password's hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    /// The user's name.
    pub name: String,
    /// What the user may do.
    pub role: ControlRole,
    /// A disabled user cannot sign in.
    pub disabled: bool,
    /// When the user was added (unix milliseconds).
    pub created_ms: i64,
    /// When the user last changed (unix milliseconds).
    pub updated_ms: i64,
}

/// The users' database.
#[derive(Clone, Debug)]
pub struct UserStore {
    pool: AnyPool,
    /// Password hashes being computed at once: each takes about 19 MiB and a core's time,
    /// so a flood of sign-ins waits here (or is turned away) instead of exhausting memory.
    hashing: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Password hashes computed at once.
const HASHES_AT_ONCE: usize = 2;

/// How long a sign-in waits for its turn to hash before it is turned away.
const HASH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

/// Checks a token's name: 1 to 64 letters, digits, spaces, `.`, `_` or `-` (it stands in
/// the audit beside its user's name, so nothing that could pass for another).
pub(crate) fn check_token_name(name: &str) -> Result<(), AuthError> {
    let fits = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ' '));
    if name.trim().is_empty() || name.chars().count() > 64 || !fits {
        return Err(AuthError::BadTokenName(
            plba_util::printable(name).into_owned(),
        ));
    }
    Ok(())
}

/// Checks a user name: 1 to 64 characters a terminal and a URL take as they are.
pub fn check_name(name: &str) -> Result<(), AuthError> {
    let fits = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if fits {
        Ok(())
    } else {
        Err(AuthError::BadName(plba_util::printable(name).into_owned()))
    }
}

pub(crate) fn role_of(user: &str, role: &str) -> Result<ControlRole, AuthError> {
    match role {
        "viewer" => Ok(ControlRole::Viewer),
        "operator" => Ok(ControlRole::Operator),
        "admin" => Ok(ControlRole::Admin),
        other => Err(AuthError::UnknownRole {
            user: user.to_owned(),
            role: other.to_owned(),
        }),
    }
}

/// The advisory lock under which instances create the tables on PostgreSQL.
const SCHEMA_LOCK: i64 = 0x706c_6261_7573; // "plbaus"

impl UserStore {
    /// Checks, without opening it, that this build can open the database `config` names.
    pub fn check_config(config: &UsersStore) -> Result<(), AuthError> {
        match config {
            UsersStore::Sqlite { path } if path.is_dir() => Err(AuthError::Store {
                what: format!("cannot be {}: it is a directory", path.display()),
                source: sqlx::Error::Configuration("a directory, not a database file".into()),
            }),
            #[cfg(not(feature = "postgres"))]
            UsersStore::Postgres { .. } => Err(AuthError::NoPostgres),
            _ => Ok(()),
        }
    }

    /// Opens (and creates, for SQLite) the database `config` names, with its table.
    pub async fn open(config: &UsersStore) -> Result<Self, AuthError> {
        let (url, sqlite) = match config {
            UsersStore::Sqlite { path } => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|error| AuthError::Store {
                        what: format!("directory {} cannot be made", parent.display()),
                        source: sqlx::Error::Io(error),
                    })?;
                }
                (format!("sqlite://{}", path.display()), true)
            }
            #[cfg(feature = "postgres")]
            UsersStore::Postgres { url } => (url.clone(), false),
            #[cfg(not(feature = "postgres"))]
            UsersStore::Postgres { .. } => return Err(AuthError::NoPostgres),
        };
        let pool = plba_sql::open_pool(&url, plba_sql::PoolSettings::default())
            .await
            .map_err(AuthError::store("cannot be opened"))?;
        plba_sql::create_tables(&pool, !sqlite, SCHEMA_LOCK, &crate::schema::ALL)
            .await
            .map_err(AuthError::store("cannot create its tables"))?;
        #[cfg(unix)]
        if let UsersStore::Sqlite { path } = config {
            // The file holds password hashes: for this account's eyes only.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |error| AuthError::Store {
                    what: format!("file {} cannot be made private", path.display()),
                    source: sqlx::Error::Io(error),
                },
            )?;
        }
        Ok(Self {
            pool,
            hashing: std::sync::Arc::new(tokio::sync::Semaphore::new(HASHES_AT_ONCE)),
        })
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Adds `name` with `role` and `password` (checked, then hashed with Argon2id).
    pub async fn add(
        &self,
        name: &str,
        role: ControlRole,
        password: &str,
    ) -> Result<User, AuthError> {
        check_name(name)?;
        password::check_new(password)?;
        if let Some(taken) = self.same_name(name).await? {
            return Err(AuthError::Exists(taken));
        }
        let hash = hash_off_thread(password).await?;
        let now = now_ms();
        let added = sqlx::query(
            "INSERT INTO plba_users (name, password_hash, role, disabled, created_ms, updated_ms)
             VALUES ($1, $2, $3, 0, $4, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(hash)
        .bind(role.as_str())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(AuthError::store("did not add a user"))?
        .rows_affected();
        if added == 0 {
            return Err(AuthError::Exists(name.to_owned()));
        }
        self.user(name)
            .await?
            .ok_or_else(|| AuthError::NotFound(name.to_owned()))
    }

    /// The user whose name is `name` but for capitals, if any: two such names would read
    /// as one person in the audit.
    pub(crate) async fn same_name(&self, name: &str) -> Result<Option<String>, AuthError> {
        let row = sqlx::query("SELECT name FROM plba_users WHERE lower(name) = lower($1)")
            .bind(name.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(AuthError::store("did not answer"))?;
        row.map(|row| row.try_get(0))
            .transpose()
            .map_err(AuthError::store("holds a bad row"))
    }

    /// Every user, by name.
    pub async fn list(&self) -> Result<Vec<User>, AuthError> {
        let rows = sqlx::query(
            "SELECT name, role, disabled, created_ms, updated_ms FROM plba_users ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(AuthError::store("did not answer"))?;
        rows.iter().map(user_of).collect()
    }

    /// The user `name`, if there is one.
    pub async fn user(&self, name: &str) -> Result<Option<User>, AuthError> {
        let row = sqlx::query(
            "SELECT name, role, disabled, created_ms, updated_ms FROM plba_users WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(AuthError::store("did not answer"))?;
        row.as_ref().map(user_of).transpose()
    }

    /// Disables (or enables again) `name`; disabling ends their sessions.
    pub async fn set_disabled(&self, name: &str, disabled: bool) -> Result<User, AuthError> {
        let sql = "UPDATE plba_users SET disabled = $1, updated_ms = $2 WHERE name = $3";
        let user = self
            .change(name, sql, |query| query.bind(i64::from(disabled)))
            .await?;
        // Enabling again must not bring old sessions back.
        if disabled {
            self.end_sessions_of(name).await?;
        }
        Ok(user)
    }

    /// Gives `name` the role `role`.
    pub async fn set_role(&self, name: &str, role: ControlRole) -> Result<User, AuthError> {
        let sql = "UPDATE plba_users SET role = $1, updated_ms = $2 WHERE name = $3";
        self.change(name, sql, |query| query.bind(role.as_str()))
            .await
    }

    /// Sets `name`'s password (an admin's reset or the user's change) and ends their
    /// sessions.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<User, AuthError> {
        password::check_new(password)?;
        let hash = hash_off_thread(password).await?;
        let sql = "UPDATE plba_users SET password_hash = $1, updated_ms = $2 WHERE name = $3";
        let user = self
            .change(name, sql, move |query| query.bind(hash))
            .await?;
        // A new password signs every browser out: whoever knew the old one is out too.
        self.end_sessions_of(name).await?;
        Ok(user)
    }

    /// Runs `sql` (`… SET <column> = $1, updated_ms = $2 WHERE name = $3`) with `bind`
    /// giving `$1`; the user as it is now.
    async fn change<'q>(
        &self,
        name: &'q str,
        sql: &'static str,
        bind: impl FnOnce(
            sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
        ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<User, AuthError> {
        let changed = bind(sqlx::query(sql))
            .bind(now_ms())
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(AuthError::store("did not change a user"))?
            .rows_affected();
        if changed == 0 {
            return Err(AuthError::NotFound(name.to_owned()));
        }
        self.user(name)
            .await?
            .ok_or_else(|| AuthError::NotFound(name.to_owned()))
    }

    /// The user `name` when `password` is theirs and they are enabled; `None` otherwise,
    /// after the same work whether the user exists or not. A hash made with older
    /// parameters is replaced.
    pub async fn authenticate(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<User>, AuthError> {
        let row = sqlx::query("SELECT password_hash FROM plba_users WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(AuthError::store("did not answer"))?;
        let stored: Option<String> = row
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(AuthError::store("holds a bad row"))?;
        let _turn = tokio::time::timeout(HASH_WAIT, self.hashing.acquire())
            .await
            .map_err(|_| AuthError::Busy)?
            .map_err(|_| AuthError::Busy)?;
        let password = password.to_owned();
        let checked =
            tokio::task::spawn_blocking(move || password::verify(&password, stored.as_deref()))
                .await
                .map_err(|error| AuthError::Hash(error.to_string()))?;

        let user = match checked {
            Checked::Invalid => return Ok(None),
            Checked::Valid => self.user(name).await?,
            Checked::ValidRehashed(hash) => {
                sqlx::query("UPDATE plba_users SET password_hash = $1 WHERE name = $2")
                    .bind(hash)
                    .bind(name)
                    .execute(&self.pool)
                    .await
                    .map_err(AuthError::store("did not store a rehashed password"))?;
                self.user(name).await?
            }
        };
        Ok(user.filter(|user| !user.disabled))
    }
}

async fn hash_off_thread(password: &str) -> Result<String, AuthError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|error| AuthError::Hash(error.to_string()))?
}

fn user_of(row: &sqlx::any::AnyRow) -> Result<User, AuthError> {
    let bad = || AuthError::store("holds a bad row");
    let name: String = row.try_get(0).map_err(bad())?;
    let role: String = row.try_get(1).map_err(bad())?;
    Ok(User {
        role: role_of(&name, &role)?,
        disabled: row.try_get::<i64, _>(2).map_err(bad())? != 0,
        created_ms: row.try_get(3).map_err(bad())?,
        updated_ms: row.try_get(4).map_err(bad())?,
        name,
    })
}

/// A store in `dir/users.db`, for the crate's tests.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) async fn test_store(dir: &tempfile::TempDir) -> UserStore {
    UserStore::open(&UsersStore::Sqlite {
        path: dir.path().join("users.db"),
    })
    .await
    .unwrap()
}

/// A store in `dir/users.db` holding `ana` with `role` (password "a long enough
/// password"), for the crate's tests.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) async fn test_store_with_ana(dir: &tempfile::TempDir, role: ControlRole) -> UserStore {
    let users = test_store(dir).await;
    users
        .add("ana", role, "a long enough password")
        .await
        .unwrap();
    users
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    async fn store(dir: &tempfile::TempDir) -> UserStore {
        test_store(dir).await
    }

    #[tokio::test]
    async fn a_user_signs_in_with_their_password_until_disabled() {
        let dir = tempfile::tempdir().unwrap();
        let users = store(&dir).await;
        let added = users
            .add("ana", ControlRole::Operator, "a long enough password")
            .await
            .unwrap();
        assert_eq!(added.role, ControlRole::Operator);
        assert!(users.has_password("ana").await.unwrap());
        assert!(matches!(
            users
                .add("ana", ControlRole::Viewer, "another long password")
                .await,
            Err(AuthError::Exists(_))
        ));
        assert!(
            matches!(
                users
                    .add("Ana", ControlRole::Viewer, "another long password")
                    .await,
                Err(AuthError::Exists(_))
            ),
            "capitals make no other name"
        );
        let signed = users
            .authenticate("ana", "a long enough password")
            .await
            .unwrap();
        assert_eq!(signed.unwrap().name, "ana");
        assert!(
            users
                .authenticate("ana", "a wrong password!!")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            users
                .authenticate("bob", "a long enough password")
                .await
                .unwrap()
                .is_none()
        );
        users.set_disabled("ana", true).await.unwrap();
        assert!(
            users
                .authenticate("ana", "a long enough password")
                .await
                .unwrap()
                .is_none()
        );
        users.set_disabled("ana", false).await.unwrap();
        users.set_role("ana", ControlRole::Admin).await.unwrap();
        users
            .set_password("ana", "a brand new password")
            .await
            .unwrap();
        let again = users
            .authenticate("ana", "a brand new password")
            .await
            .unwrap();
        assert_eq!(again.unwrap().role, ControlRole::Admin);
        assert!(matches!(
            users.set_role("nobody", ControlRole::Admin).await,
            Err(AuthError::NotFound(_))
        ));
    }

    #[test]
    fn a_directory_is_not_a_users_database() {
        let dir = tempfile::tempdir().unwrap();
        let error = UserStore::check_config(&UsersStore::Sqlite {
            path: dir.path().to_owned(),
        })
        .unwrap_err();
        assert!(error.to_string().contains("directory"), "{error}");
        UserStore::check_config(&UsersStore::Sqlite {
            path: dir.path().join("users.db"),
        })
        .unwrap();
    }

    #[tokio::test]
    async fn bad_names_and_weak_passwords_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let users = store(&dir).await;
        assert!(matches!(
            users
                .add("a b", ControlRole::Viewer, "a long enough password")
                .await,
            Err(AuthError::BadName(_))
        ));
        assert!(matches!(
            users.add("ana", ControlRole::Viewer, "short").await,
            Err(AuthError::WeakPassword(_))
        ));
        assert!(users.list().await.unwrap().is_empty());
    }
}

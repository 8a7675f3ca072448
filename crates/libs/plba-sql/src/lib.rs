//! Opening a database the one way every PLBA store does, through sqlx's `Any` driver, so the
//! same SQL runs on SQLite (one host) and PostgreSQL (shared by every instance): the
//! drivers installed, SQLite made to wait for a lock rather than fail (and, when asked, in
//! WAL mode), a deadline on getting a connection, and tables created once even when
//! instances start together.
//!
//! The PostgreSQL driver is there when a crate turns on sqlx's `postgres` feature (the
//! features of one build unify); without it a `postgres://` URL fails to open.

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

/// How a pool is opened.
#[derive(Clone, Copy, Debug)]
pub struct PoolSettings {
    /// Connections at most on PostgreSQL (SQLite gets one: it has one writer).
    pub max_connections: u32,
    /// How long getting a connection may take: a database that is away is reported, not
    /// waited on.
    pub acquire_timeout: Duration,
    /// SQLite in WAL mode (readers do not wait for the writer).
    pub wal: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(30),
            wal: false,
        }
    }
}

/// Whether `url` names SQLite.
pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// Whether `url` names PostgreSQL.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens the database at `url` (`sqlite://PATH`, made when missing unless the URL says
/// otherwise, or `postgres://…`).
pub async fn open_pool(url: &str, settings: PoolSettings) -> Result<AnyPool, sqlx::Error> {
    install_default_drivers();
    let sqlite = is_sqlite(url);
    let connect = if sqlite && !url.contains('?') {
        format!("{url}?mode=rwc")
    } else {
        url.to_owned()
    };
    let wal = settings.wal;
    AnyPoolOptions::new()
        .max_connections(if sqlite { 1 } else { settings.max_connections })
        .acquire_timeout(settings.acquire_timeout)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    // One writer at a time: wait for the lock rather than fail.
                    conn.execute("PRAGMA busy_timeout = 5000").await?;
                    if wal {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                    }
                }
                Ok(())
            })
        })
        .connect(&connect)
        .await
}

/// Runs `statements` (`CREATE TABLE IF NOT EXISTS …`) on `pool`. On PostgreSQL they run
/// under the advisory lock `lock`, since instances starting together on an empty database
/// would otherwise race to create the same tables (`CREATE TABLE IF NOT EXISTS` is not safe
/// concurrently); each store has a lock of its own.
pub async fn create_tables(
    pool: &AnyPool,
    postgres: bool,
    lock: i64,
    statements: &[&'static str],
) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    if postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(lock)
            .execute(&mut *conn)
            .await?;
    }
    let mut created = Ok(());
    for statement in statements {
        created = conn.execute(*statement).await.map(drop);
        if created.is_err() {
            break;
        }
    }
    if postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(lock)
            .execute(&mut *conn)
            .await?;
    }
    created
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn a_sqlite_file_is_made_with_its_tables() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let pool = open_pool(&url, PoolSettings::default()).await.unwrap();
        create_tables(&pool, false, 1, &["CREATE TABLE IF NOT EXISTS t (a TEXT)"])
            .await
            .unwrap();
        create_tables(&pool, false, 1, &["CREATE TABLE IF NOT EXISTS t (a TEXT)"])
            .await
            .unwrap();
        assert!(dir.path().join("t.db").is_file());
        assert!(is_sqlite(&url) && !is_postgres(&url));
    }
}

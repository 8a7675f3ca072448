//! The SQLite order store (one embedded file).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use plba_contracts::async_trait;
use plba_util::{GroupCommit, Unpoisoned};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::OnceCell;

use super::contract::{OrderStore, Stored};
use super::sql::{PROBE, Reads, now_ms};
use super::sqlite_batch::{WriteJob, Written, write_all};
use crate::decision::{NewOrder, NewRejection, Order, PeriodSummary, Rejection};
use crate::error::DomainError;

/// Schema migrations, embedded in the binary, applied in order once each.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_orders.sql")),
    (2, include_str!("../../migrations/0002_store_probe.sql")),
    (3, include_str!("../../migrations/0003_rejection_trace.sql")),
];

/// Orders and rejections in one SQLite file. Connects lazily: a database that is missing or
/// locked at start-up is a transient failure of the first mail, not a crash.
///
/// Orders and rejections written at the same time by concurrent handlers share one
/// `BEGIN IMMEDIATE … COMMIT` (group commit: one `fsync` for the batch); when a batch fails
/// because one write broke a constraint, each of its writes is tried again in a transaction
/// of its own, so that write's error is its own.
///
/// Every write transaction runs on one pooled connection, and a connection that saw any
/// error is closed, never returned to the pool: after a failed
/// COMMIT (a full disk) SQLite can leave it inside the transaction, so later "commits" on it
/// would only release savepoints of a transaction that never reaches the file; and a
/// connection opened while the file was read-only stays read-only. An order is reported
/// stored only once its COMMIT succeeded.
#[derive(Debug)]
pub struct SqliteOrderStore {
    pool: SqlitePool,
    path: PathBuf,
    migrated: OnceCell<()>,
    /// The last order or rejection write failed (and none succeeded since): why.
    write_failure: std::sync::Mutex<Option<String>>,
    /// Order and rejection writes of concurrent handlers, committed together.
    writes: GroupCommit<WriteJob, Result<Written, DomainError>>,
}

/// Most writes one transaction holds.
const MAX_BATCH: usize = 256;

impl SqliteOrderStore {
    /// A store on the file at `path` (created, with its folder, when missing).
    pub fn open(path: &Path) -> Result<Self, DomainError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                DomainError::store_caused(format!("cannot create {}", parent.display()), e)
            })?;
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(|e| {
                DomainError::Config(format!("invalid database path {}: {e}", path.display()))
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            path: path.to_owned(),
            migrated: OnceCell::new(),
            write_failure: std::sync::Mutex::new(None),
            writes: GroupCommit::new(MAX_BATCH),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether every migration is applied, read without taking the write lock: a reader
    /// (`orders list` beside a bot writing hard) must not queue for it. Any error (no
    /// table yet) answers "no".
    async fn all_applied(&self) -> bool {
        let applied: Result<Vec<i64>, sqlx::Error> =
            sqlx::query_scalar("SELECT version FROM schema_migrations")
                .fetch_all(&self.pool)
                .await;
        applied.is_ok_and(|applied| MIGRATIONS.iter().all(|(v, _)| applied.contains(v)))
    }

    async fn ready(&self) -> Result<&SqlitePool, DomainError> {
        self.migrated
            .get_or_try_init(|| async {
                if self.all_applied().await {
                    return Ok(());
                }
                write_transaction(&self.pool, async |conn| {
                    sqlx::query(
                        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)",
                    )
                    .execute(&mut *conn)
                    .await?;
                    for (version, sql) in MIGRATIONS {
                        let applied: Option<i64> = sqlx::query_scalar(
                            "SELECT version FROM schema_migrations WHERE version = $1",
                        )
                        .bind(version)
                        .fetch_optional(&mut *conn)
                        .await?;
                        if applied.is_none() {
                            sqlx::raw_sql(*sql).execute(&mut *conn).await?;
                            sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
                                .bind(version)
                                .execute(&mut *conn)
                                .await?;
                        }
                    }
                    Ok(())
                })
                .await
            })
            .await?;
        Ok(&self.pool)
    }

    /// [`write_transaction`] on the migrated store, remembering whether the write failed,
    /// for the health check.
    async fn write<T>(
        &self,
        work: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, DomainError> {
        let result = match self.ready().await {
            Ok(pool) => write_transaction(pool, work).await,
            Err(error) => Err(error),
        };
        *self.write_failure.lock_or_recover() = result.as_ref().err().map(ToString::to_string);
        result
    }

    /// Writes `job` in a group commit with the writes that arrive meanwhile.
    async fn write_grouped(&self, job: WriteJob) -> Result<Written, DomainError> {
        self.writes
            .submit(job, |jobs| self.write_batch(jobs))
            .await
            .unwrap_or_else(|| {
                Err(DomainError::store(
                    "the write was abandoned with its batch (the process is stopping)",
                ))
            })
    }

    /// One transaction for all of `jobs`. When one of them breaks a constraint, each is
    /// written in a transaction of its own; any other failure is every job's.
    async fn write_batch(&self, jobs: Vec<WriteJob>) -> Vec<Result<Written, DomainError>> {
        if jobs.len() > 1 {
            let together = self.write(async |conn| write_all(conn, &jobs).await).await;
            match together {
                Ok(written) => return written.into_iter().map(Ok).collect(),
                // A store that cannot write (busy, full, read-only, unreachable) fails every
                // write alike: trying them one by one would only wait that many times more.
                Err(error) if !caused_by_one_write(&error) => {
                    let error = std::sync::Arc::new(error);
                    return jobs
                        .iter()
                        .map(|_| {
                            Err(DomainError::store_caused(
                                "the batch holding this write failed",
                                SharedError(std::sync::Arc::clone(&error)),
                            ))
                        })
                        .collect();
                }
                // One write broke a rule (a constraint): each alone, so it fails only itself.
                Err(_) => {}
            }
        }
        let mut results = Vec::with_capacity(jobs.len());
        for job in &jobs {
            let alone = std::slice::from_ref(job);
            let written = self.write(async |conn| write_all(conn, alone).await).await;
            results.push(written.and_then(|mut one| {
                one.pop()
                    .ok_or_else(|| DomainError::store("a write got no result"))
            }));
        }
        results
    }
}

/// Runs `work` inside `BEGIN IMMEDIATE … COMMIT` on one connection of `pool`. On any error
/// the transaction is rolled back and the connection closed instead of pooled (see
/// [`SqliteOrderStore`] for why); so it is when the caller stops waiting half-way (a probe
/// whose client went away, a health check's or a task's time limit), which would otherwise
/// hand the next writer a connection still inside this transaction.
async fn write_transaction<T>(
    pool: &SqlitePool,
    work: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, sqlx::Error>,
) -> Result<T, DomainError> {
    let mut conn = Unsettled(pool.acquire().await?, false);
    let result = async {
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn.0).await?;
        match work(&mut conn.0).await {
            Ok(value) => {
                sqlx::query("COMMIT").execute(&mut *conn.0).await?;
                Ok(value)
            }
            Err(error) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn.0).await;
                Err(error)
            }
        }
    }
    .await;
    // Pooled again only after a clean COMMIT.
    conn.1 = result.is_ok();
    result.map_err(DomainError::from)
}

/// A connection that is closed when dropped unless its transaction ended cleanly (`.1`):
/// dropping a future between `BEGIN` and `COMMIT` drops this too.
struct Unsettled(sqlx::pool::PoolConnection<sqlx::Sqlite>, bool);

impl Drop for Unsettled {
    fn drop(&mut self) {
        if !self.1 {
            self.0.close_on_drop();
        }
    }
}

/// Whether a failed batch failed because of one of its writes (a constraint it broke)
/// rather than because the store cannot write at all.
fn caused_by_one_write(error: &DomainError) -> bool {
    let DomainError::Store {
        source: Some(source),
        ..
    } = error
    else {
        return false;
    };
    source
        .downcast_ref::<sqlx::Error>()
        .and_then(sqlx::Error::as_database_error)
        .is_some_and(|database| database.kind() != sqlx::error::ErrorKind::Other)
}

/// A store error shared by every write of the batch it failed.
#[derive(Debug)]
struct SharedError(std::sync::Arc<DomainError>);

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

#[async_trait]
impl OrderStore for SqliteOrderStore {
    async fn create_order(&self, order: &NewOrder) -> Result<Stored, DomainError> {
        match self.write_grouped(WriteJob::Order(order.clone())).await? {
            Written::Order(stored) => Ok(stored),
            Written::Rejection(_) => {
                Err(DomainError::store("an order write answered as a rejection"))
            }
        }
    }

    async fn record_rejection(&self, rejection: &NewRejection) -> Result<i64, DomainError> {
        let reasons = serde_json::to_string(&rejection.reasons)
            .map_err(|e| DomainError::store_caused("cannot encode the rejection reasons", e))?;
        match self
            .write_grouped(WriteJob::Rejection(rejection.clone(), reasons))
            .await?
        {
            Written::Rejection(id) => Ok(id),
            Written::Order(_) => Err(DomainError::store("a rejection write answered as an order")),
        }
    }

    async fn list_orders(&self, limit: u32) -> Result<Vec<Order>, DomainError> {
        Reads(self.ready().await?).list_orders(limit).await
    }

    async fn get_order(&self, id: i64) -> Result<Option<Order>, DomainError> {
        Reads(self.ready().await?).get_order(id).await
    }

    async fn list_rejections(&self, limit: u32) -> Result<Vec<Rejection>, DomainError> {
        Reads(self.ready().await?).list_rejections(limit).await
    }

    async fn summarize(&self, from_ms: i64, until_ms: i64) -> Result<PeriodSummary, DomainError> {
        Reads(self.ready().await?)
            .summarize(from_ms, until_ms)
            .await
    }

    async fn check_writable(&self) -> Result<(), DomainError> {
        let pool = self.ready().await?;
        write_transaction(pool, async |conn| {
            sqlx::query(PROBE)
                .bind(now_ms())
                .execute(&mut *conn)
                .await
                .map(drop)
        })
        .await?;
        let failure = self.write_failure.lock_or_recover().clone();
        match failure {
            None => Ok(()),
            Some(reason) => Err(DomainError::store(format!(
                "the last order or rejection could not be stored: {reason}"
            ))),
        }
    }
}

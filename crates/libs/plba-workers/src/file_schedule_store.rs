//! A schedule store in a file: one process's record of what its schedules ran, kept across
//! its restarts, so a missed occurrence is noticed (and caught up) after a restart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plba_contracts::{ScheduleStore, ScheduleStoreError, async_trait};
use tokio::sync::Mutex;

/// Fired occurrences in a small JSON file (`{"schedule": ms since the epoch}`), written
/// aside and renamed so a crash never leaves half a file. For one process: claims are
/// serialised within it, not across processes (those share a store in Redis).
///
/// ```no_run
/// use std::sync::Arc;
/// use plba_workers::FileScheduleStore;
///
/// let store = Arc::new(FileScheduleStore::new("data/schedules.json"));
/// // Schedule::cron(…).with_store(store)
/// ```
#[derive(Debug)]
pub struct FileScheduleStore {
    path: PathBuf,
    writing: Mutex<()>,
}

impl FileScheduleStore {
    /// A store in `path` (created, with its directory, on the first claim).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            writing: Mutex::new(()),
        }
    }

    fn failed(
        &self,
        what: &str,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> ScheduleStoreError {
        ScheduleStoreError::new(format!("{what} {}", self.path.display())).with_source(error)
    }

    async fn read(&self) -> Result<BTreeMap<String, u64>, ScheduleStoreError> {
        match tokio::fs::read(&self.path).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|error| self.failed("cannot read the schedule record", error)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(error) => Err(self.failed("cannot read the schedule record", error)),
        }
    }

    async fn write(&self, record: &BTreeMap<String, u64>) -> Result<(), ScheduleStoreError> {
        let text = serde_json::to_vec(record)
            .map_err(|error| self.failed("cannot encode the schedule record", error))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|error| self.failed("cannot create the directory of", error))?;
        }
        let partial = partial_path(&self.path);
        tokio::fs::write(&partial, text)
            .await
            .map_err(|error| self.failed("cannot write the schedule record", error))?;
        tokio::fs::rename(&partial, &self.path)
            .await
            .map_err(|error| self.failed("cannot write the schedule record", error))
    }
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[async_trait]
impl ScheduleStore for FileScheduleStore {
    async fn last_fired(&self, schedule: &str) -> Result<Option<SystemTime>, ScheduleStoreError> {
        Ok(self
            .read()
            .await?
            .get(schedule)
            .and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(*ms))))
    }

    async fn claim(
        &self,
        schedule: &str,
        occurrence: SystemTime,
    ) -> Result<bool, ScheduleStoreError> {
        let _writing = self.writing.lock().await;
        let mut record = self.read().await?;
        let at = millis(occurrence);
        if record.get(schedule).is_some_and(|last| *last >= at) {
            return Ok(false);
        }
        record.insert(schedule.to_owned(), at);
        self.write(&record).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use plba_contracts::ScheduleStore;
    use plba_testkit::schedule::run_all;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_file_store_conforms_and_outlives_its_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schedules/record.json");
        run_all(
            || -> Arc<dyn ScheduleStore> { Arc::new(FileScheduleStore::new(&path)) },
            "file",
        )
        .await;
        // A new store on the same file (the process restarted) knows what ran.
        let again = FileScheduleStore::new(&path);
        assert!(again.last_fired("file-nightly").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_record_that_is_not_json_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record.json");
        std::fs::write(&path, "not json").unwrap();
        let error = FileScheduleStore::new(&path)
            .claim("s", SystemTime::now())
            .await
            .unwrap_err();
        let text = plba_util::error_chain(&error);
        assert!(text.contains("record.json"), "{text}");
    }
}

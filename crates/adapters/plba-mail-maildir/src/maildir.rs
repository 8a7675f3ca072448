//! A Maildir directory and the `MailBackend` over it.

use plba_util::Unpoisoned;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::{ErrorKind, Read as _};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use plba_contracts::async_trait;
use plba_mail::{MailBackend, MailError, MailRef, MemoryBudget, RawMail, Reservation};
use serde::Deserialize;

/// How a Maildir is used.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaildirOptions {
    /// The Maildir's root (holding `tmp/`, `new/`, `cur/`).
    pub path: PathBuf,
    /// Create the directories when missing.
    pub create: bool,
    /// Rescan `new/` at least this often, in milliseconds (inotify wakes it sooner).
    pub rescan_interval_ms: u64,
    /// Larger messages are rejected without being read.
    pub max_message_bytes: u64,
    /// Most bytes of messages read and not yet done with, across all workers (a larger
    /// message is read alone).
    pub memory_budget_bytes: u64,
    /// Move rejected messages into this Maildir++ sub-folder (e.g. `Rejected` →
    /// `.Rejected/cur/`); when unset they stay in `cur/` with flags `F` and `S`.
    pub rejected_folder: Option<String>,
}

impl Default for MaildirOptions {
    fn default() -> Self {
        Self {
            path: PathBuf::from("data/Maildir"),
            create: true,
            rescan_interval_ms: 5_000,
            max_message_bytes: 25 * 1024 * 1024,
            memory_budget_bytes: plba_mail::DEFAULT_MEMORY_BUDGET,
            rejected_folder: None,
        }
    }
}

/// Whether `folder` is a plain Maildir++ folder name (no path, no leading dot).
fn plain_folder_name(folder: &str) -> bool {
    !(folder.is_empty() || folder.contains(['/', '\\']) || folder.starts_with('.'))
}

impl MaildirOptions {
    /// Checks the options as configuration without touching the mailbox, naming the
    /// offending key (relative to the options' own section).
    pub fn check(&self) -> Result<(), plba_contracts::ConfigError> {
        use plba_contracts::ConfigError;
        if self.path.as_os_str().is_empty() {
            return Err(ConfigError::invalid("path", "is empty"));
        }
        if self.memory_budget_bytes < 1024 {
            return Err(ConfigError::invalid(
                "memory_budget_bytes",
                "must be at least 1024",
            ));
        }
        if self.path.exists() && !self.path.is_dir() {
            return Err(ConfigError::invalid(
                "path",
                format!(
                    "{} is not a directory (a Maildir holds tmp/, new/ and cur/)",
                    self.path.display()
                ),
            ));
        }
        if !self.create && !self.path.join("new").is_dir() {
            return Err(ConfigError::invalid(
                "path",
                format!(
                    "{} is not a Maildir (no new/) and `create` is off",
                    self.path.display()
                ),
            ));
        }
        if self.max_message_bytes == 0 {
            return Err(ConfigError::invalid(
                "max_message_bytes",
                "must be at least 1",
            ));
        }
        if let Some(folder) = &self.rejected_folder
            && !plain_folder_name(folder)
        {
            return Err(ConfigError::invalid(
                "rejected_folder",
                format!("{folder:?} is not a plain folder name; use a name such as \"Rejected\""),
            ));
        }
        Ok(())
    }

    /// The rescan interval.
    pub fn rescan_interval(&self) -> Duration {
        Duration::from_millis(self.rescan_interval_ms.max(10))
    }
}

/// Why a Maildir could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum MaildirError {
    /// A directory is missing or unusable.
    #[error("{} is not a usable Maildir: {reason}", path.display())]
    NotAMaildir {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The rejected-folder name is not a plain folder name.
    #[error("invalid rejected folder {0:?}: use a plain name such as \"Rejected\"")]
    FolderName(String),
}

/// One Maildir on disk.
#[derive(Debug)]
pub struct Maildir {
    root: PathBuf,
    name: String,
    options: MaildirOptions,
    /// Files in `new/` whose name is not UTF-8 and that could not be renamed: reported
    /// once, then skipped quietly while they stay.
    unreadable: Mutex<HashSet<OsString>>,
    budget: MemoryBudget,
}

static DELIVERIES: AtomicU64 = AtomicU64::new(0);

impl Maildir {
    /// Opens (and, if asked, creates) the Maildir at `options.path`.
    pub fn open(options: MaildirOptions) -> Result<Self, MaildirError> {
        if let Some(folder) = &options.rejected_folder
            && !plain_folder_name(folder)
        {
            return Err(MaildirError::FolderName(folder.clone()));
        }
        let root = options.path.clone();
        for sub in ["tmp", "new", "cur"] {
            let dir = root.join(sub);
            if options.create {
                std::fs::create_dir_all(&dir).map_err(|source| MaildirError::Io {
                    action: "create",
                    path: dir.clone(),
                    source,
                })?;
            } else if !dir.is_dir() {
                return Err(MaildirError::NotAMaildir {
                    path: root,
                    reason: format!("{sub}/ is missing"),
                });
            }
        }
        Ok(Self {
            name: root.display().to_string(),
            root,
            budget: MemoryBudget::new(options.memory_budget_bytes),
            options,
            unreadable: Mutex::new(HashSet::new()),
        })
    }

    /// Creates the directories (`tmp/`, `new/`, `cur/`) that went missing since
    /// [`open`](Self::open) — the Maildir was deleted — when `create` is on; returns whether
    /// anything was created. Without `create` it creates nothing.
    pub async fn recreate(&self) -> Result<bool, MaildirError> {
        if !self.options.create {
            return Ok(false);
        }
        let mut created = false;
        for sub in ["tmp", "new", "cur"] {
            let dir = self.root.join(sub);
            if tokio::fs::metadata(&dir).await.is_ok_and(|m| m.is_dir()) {
                continue;
            }
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|source| MaildirError::Io {
                    action: "create",
                    path: dir.clone(),
                    source,
                })?;
            created = true;
        }
        Ok(created)
    }

    /// The mailbox name used in message references (the root path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The options.
    pub fn options(&self) -> &MaildirOptions {
        &self.options
    }

    /// A unique file name for a new message (time, process, counter).
    fn unique_key() -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        format!(
            "{}.M{}P{}Q{}.plba",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            DELIVERIES.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Delivers a message the Maildir way: written to `tmp/`, then renamed into `new/`, so a
    /// reader never sees half a message. Returns its key.
    pub async fn deliver(&self, message: Bytes) -> Result<String, MaildirError> {
        let key = Self::unique_key();
        let tmp = self.root.join("tmp").join(&key);
        let new = self.root.join("new").join(&key);
        tokio::fs::write(&tmp, &message)
            .await
            .map_err(|source| MaildirError::Io {
                action: "write",
                path: tmp.clone(),
                source,
            })?;
        tokio::fs::rename(&tmp, &new)
            .await
            .map_err(|source| MaildirError::Io {
                action: "rename into new/",
                path: new.clone(),
                source,
            })?;
        Ok(key)
    }

    /// The keys of the messages in `new/`, oldest name first.
    ///
    /// A message's key is its file name, so it must be UTF-8: a file whose name is not is
    /// renamed once to a UTF-8 name (each invalid byte written `%XX`) and listed under it,
    /// never lost nor skipped; one that cannot be renamed is reported once and skipped.
    pub async fn scan_new(&self) -> Result<Vec<String>, MaildirError> {
        let dir = self.root.join("new");
        let io = |source| MaildirError::Io {
            action: "list",
            path: dir.clone(),
            source,
        };
        let mut entries = tokio::fs::read_dir(&dir).await.map_err(io)?;
        let mut keys = Vec::new();
        let mut unreadable = HashSet::new();
        while let Some(entry) = entries.next_entry().await.map_err(io)? {
            let raw = entry.file_name();
            if raw.as_bytes().starts_with(b".")
                || !entry
                    .file_type()
                    .await
                    .map(|t| t.is_file())
                    .unwrap_or(false)
            {
                continue;
            }
            match raw.into_string() {
                Ok(name) => keys.push(name),
                Err(raw) => match self.rename_to_utf8(&dir, &raw).await {
                    Some(name) => keys.push(name),
                    None => {
                        unreadable.insert(raw);
                    }
                },
            }
        }
        // Forget the ones gone since, so a later file of the same name is reported again.
        self.unreadable
            .lock_or_recover()
            .retain(|name| unreadable.contains(name));
        keys.sort();
        Ok(keys)
    }

    /// Renames `new/<raw>`, whose name is not UTF-8, to its [`utf8_name`]; `None` (reported
    /// the first time only) when that fails. Never replaces another file: the new name is
    /// linked first, which fails when taken, and the old one removed after (on a file
    /// system without hard links, a rename when the name is free).
    async fn rename_to_utf8(&self, dir: &Path, raw: &OsStr) -> Option<String> {
        let name = utf8_name(raw.as_bytes());
        let from = dir.join(raw);
        let to = dir.join(&name);
        let renamed = match tokio::fs::hard_link(&from, &to).await {
            Ok(()) => tokio::fs::remove_file(&from).await,
            Err(error) if error.kind() == ErrorKind::AlreadyExists => Err(error),
            Err(error) => match tokio::fs::try_exists(&to).await {
                Ok(false) => tokio::fs::rename(&from, &to).await,
                _ => Err(error),
            },
        };
        match renamed {
            Ok(()) => {
                tracing::warn!(maildir = %self.name, from = %from.display(), to = %name, "renamed a message whose file name is not UTF-8");
                Some(name)
            }
            Err(error) => {
                let first = self.unreadable.lock_or_recover().insert(raw.to_owned());
                if first {
                    tracing::warn!(maildir = %self.name, path = %from.display(), %error, "a message whose file name is not UTF-8 cannot be renamed; skipping it until it is");
                }
                None
            }
        }
    }

    /// The messages in `cur/` (file names with their flags), for tests and tools.
    pub async fn list_cur(&self) -> Result<Vec<String>, MaildirError> {
        let dir = self.root.join("cur");
        let mut names = Vec::new();
        let io = |source| MaildirError::Io {
            action: "list",
            path: dir.clone(),
            source,
        };
        let mut entries = tokio::fs::read_dir(&dir).await.map_err(io)?;
        while let Some(entry) = entries.next_entry().await.map_err(io)? {
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn unavailable(&self, what: String, source: std::io::Error) -> MailError {
        MailError::Unavailable {
            mailbox: self.name.clone(),
            what,
            source: Box::new(source),
        }
    }

    fn check_key(&self, reference: &MailRef) -> Result<(), MailError> {
        let key = &reference.key;
        if key.is_empty() || key.contains(['/', '\\']) || key.starts_with('.') {
            return Err(MailError::Gone {
                mailbox: self.name.clone(),
                key: key.clone(),
            });
        }
        Ok(())
    }

    /// Moves `new/<key>` to `dir/<key>:2,<flags>`; a message no longer in `new/` was
    /// completed before, which is fine.
    async fn complete(
        &self,
        reference: &MailRef,
        dir: PathBuf,
        flags: &str,
    ) -> Result<(), MailError> {
        self.check_key(reference)?;
        let from = self.root.join("new").join(&reference.key);
        let to = dir.join(format!("{}:2,{flags}", reference.key));
        match tokio::fs::rename(&from, &to).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.unavailable(
                format!("cannot move {} to {}", from.display(), to.display()),
                e,
            )),
        }
    }
}

/// Room reserved for a message before its size is known: most order mails are smaller, so
/// they are opened, measured and read in one trip to the blocking pool.
const SMALL_MESSAGE_BYTES: u64 = 64 * 1024;

/// What one trip to the blocking pool found of a message file.
enum Opened {
    /// No such file: completed or removed by someone else.
    Gone,
    /// Larger than the limit (its size).
    TooLarge(u64),
    /// Read whole, within the room reserved before.
    Read {
        bytes: Bytes,
        modified: Option<SystemTime>,
    },
    /// Larger than the room reserved before: the open file, to read once the budget has
    /// room for `size` bytes.
    Larger {
        file: std::fs::File,
        size: u64,
        modified: Option<SystemTime>,
    },
}

/// Opens the message at `path` and reads it when it fits in `reserved`
/// ([`SMALL_MESSAGE_BYTES`] of `budget`), keeping only the message's share of it. Runs on
/// the blocking pool.
fn open_message(
    path: &Path,
    max: u64,
    reserved: Option<Reservation>,
    budget: &MemoryBudget,
) -> std::io::Result<Opened> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Opened::Gone),
        Err(e) => return Err(e),
    };
    let metadata = file.metadata()?;
    let (size, modified) = (metadata.len(), metadata.modified().ok());
    if size > max {
        return Ok(Opened::TooLarge(size));
    }
    match reserved {
        Some(mut reservation) if size <= SMALL_MESSAGE_BYTES => {
            budget.fit(&mut reservation, size);
            Ok(Opened::Read {
                bytes: reservation.hold(read_body(file, size)?),
                modified,
            })
        }
        _ => Ok(Opened::Larger {
            file,
            size,
            modified,
        }),
    }
}

/// The first `size` bytes of `file` (a message in `new/` does not change; should one grow
/// anyway, what is read stays within what was reserved for it).
fn read_body(file: std::fs::File, size: u64) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(size).read_to_end(&mut body)?;
    Ok(body)
}

/// `bytes` as UTF-8: valid parts kept, each invalid byte written `%XX`.
fn utf8_name(bytes: &[u8]) -> String {
    let mut name = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        name.push_str(chunk.valid());
        for byte in chunk.invalid() {
            // Writing to a String cannot fail.
            let _ = write!(name, "%{byte:02X}");
        }
    }
    name
}

#[async_trait]
impl MailBackend for Maildir {
    async fn fetch(&self, reference: &MailRef) -> Result<RawMail, MailError> {
        self.check_key(reference)?;
        let path = self.root.join("new").join(&reference.key);
        let max = self.options.max_message_bytes;
        // One trip to the blocking pool for most mails: room for a small one is reserved
        // before, so the trip can open, measure and read it at once.
        let small = self.budget.try_reserve(SMALL_MESSAGE_BYTES);
        let io = |e: std::io::Error| self.unavailable(format!("cannot read {}", path.display()), e);
        let opened = {
            let (path, budget) = (path.clone(), self.budget.clone());
            tokio::task::spawn_blocking(move || open_message(&path, max, small, &budget))
        }
        .await
        .map_err(|e| io(e.into()))?;
        let gone = || MailError::Gone {
            mailbox: self.name.clone(),
            key: reference.key.clone(),
        };
        let (bytes, modified) = match opened.map_err(io)? {
            Opened::Gone => return Err(gone()),
            Opened::TooLarge(size) => {
                return Err(MailError::TooLarge {
                    key: reference.key.clone(),
                    size,
                    limit: max,
                });
            }
            Opened::Read { bytes, modified } => (bytes, modified),
            Opened::Larger {
                file,
                size,
                modified,
            } => {
                let reservation = self.budget.reserve(size).await;
                let body = tokio::task::spawn_blocking(move || read_body(file, size))
                    .await
                    .map_err(|e| io(e.into()))?
                    .map_err(io)?;
                (reservation.hold(body), modified)
            }
        };
        Ok(RawMail {
            reference: reference.clone(),
            bytes,
            received_at: modified,
            trace_id: None,
        })
    }

    async fn mark_seen(&self, reference: &MailRef) -> Result<(), MailError> {
        self.complete(reference, self.root.join("cur"), "S").await
    }

    async fn mark_rejected(&self, reference: &MailRef, _reason: &str) -> Result<(), MailError> {
        match &self.options.rejected_folder {
            Some(folder) => {
                let sub = self.root.join(format!(".{folder}"));
                for dir in ["tmp", "new", "cur"] {
                    tokio::fs::create_dir_all(sub.join(dir))
                        .await
                        .map_err(|e| {
                            self.unavailable(format!("cannot create {}", sub.display()), e)
                        })?;
                }
                self.complete(reference, sub.join("cur"), "S").await
            }
            None => self.complete(reference, self.root.join("cur"), "FS").await,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly on broken setup

    use super::*;

    #[test]
    fn invalid_bytes_are_escaped_and_the_rest_kept() {
        assert_eq!(utf8_name(b"plain.M1P2"), "plain.M1P2");
        assert_eq!(utf8_name(b"a\xff\xfeb:2,S"), "a%FF%FEb:2,S");
        assert_eq!(utf8_name("é\u{1F600}".as_bytes()), "é\u{1F600}");
        assert_eq!(utf8_name(b"\xc3"), "%C3", "a truncated sequence");
    }

    #[tokio::test]
    async fn a_name_that_cannot_be_renamed_is_skipped_and_remembered_while_present() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::open(MaildirOptions {
            path: dir.path().join("m"),
            ..MaildirOptions::default()
        })
        .unwrap();
        let new = dir.path().join("m/new");
        // The UTF-8 name is taken, so the rename must not happen (nothing is replaced).
        std::fs::write(new.join("x%FF"), b"taken").unwrap();
        let raw = OsStr::from_bytes(b"x\xff");
        std::fs::write(new.join(raw), b"odd").unwrap();
        for _ in 0..3 {
            assert_eq!(maildir.scan_new().await.unwrap(), vec!["x%FF".to_owned()]);
            assert!(maildir.unreadable.lock_or_recover().contains(raw));
        }
        assert_eq!(std::fs::read(new.join("x%FF")).unwrap(), b"taken");
        assert_eq!(std::fs::read(new.join(raw)).unwrap(), b"odd");
        std::fs::remove_file(new.join(raw)).unwrap();
        maildir.scan_new().await.unwrap();
        assert!(
            maildir.unreadable.lock_or_recover().is_empty(),
            "forgotten once gone"
        );
    }
}

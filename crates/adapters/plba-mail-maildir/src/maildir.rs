//! A Maildir directory and the `MailBackend` over it.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use plba_contracts::async_trait;
use plba_mail::{MailBackend, MailError, MailRef, RawMail};
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
    #[error("{action} {}: {source}", path.display())]
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
            options,
        })
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

    /// [`deliver`](Self::deliver) for start-up code and tools outside an async context.
    pub fn deliver_blocking(&self, message: &[u8]) -> Result<String, MaildirError> {
        let key = Self::unique_key();
        let tmp = self.root.join("tmp").join(&key);
        let new = self.root.join("new").join(&key);
        std::fs::write(&tmp, message).map_err(|source| MaildirError::Io {
            action: "write",
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &new).map_err(|source| MaildirError::Io {
            action: "rename into new/",
            path: new,
            source,
        })?;
        Ok(key)
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
    pub async fn scan_new(&self) -> Result<Vec<String>, MaildirError> {
        let dir = self.root.join("new");
        let io = |source| MaildirError::Io {
            action: "list",
            path: dir.clone(),
            source,
        };
        let mut entries = tokio::fs::read_dir(&dir).await.map_err(io)?;
        let mut keys = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(io)? {
            let Ok(name) = entry.file_name().into_string() else {
                tracing::warn!(path = %entry.path().display(), "skipping a file whose name is not UTF-8");
                continue;
            };
            if !name.starts_with('.')
                && entry
                    .file_type()
                    .await
                    .map(|t| t.is_file())
                    .unwrap_or(false)
            {
                keys.push(name);
            }
        }
        keys.sort();
        Ok(keys)
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

    fn unavailable(&self, reason: impl std::fmt::Display) -> MailError {
        MailError::Unavailable {
            mailbox: self.name.clone(),
            reason: reason.to_string(),
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
            Err(e) => Err(self.unavailable(format!(
                "cannot move {} to {}: {e}",
                from.display(),
                to.display()
            ))),
        }
    }
}

#[async_trait]
impl MailBackend for Maildir {
    async fn fetch(&self, reference: &MailRef) -> Result<RawMail, MailError> {
        self.check_key(reference)?;
        let path = self.root.join("new").join(&reference.key);
        let metadata = match tokio::fs::metadata(&path).await {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(MailError::Gone {
                    mailbox: self.name.clone(),
                    key: reference.key.clone(),
                });
            }
            Err(e) => return Err(self.unavailable(format!("cannot stat {}: {e}", path.display()))),
        };
        if metadata.len() > self.options.max_message_bytes {
            return Err(MailError::TooLarge {
                key: reference.key.clone(),
                size: metadata.len(),
                limit: self.options.max_message_bytes,
            });
        }
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(MailError::Gone {
                    mailbox: self.name.clone(),
                    key: reference.key.clone(),
                });
            }
            Err(e) => return Err(self.unavailable(format!("cannot read {}: {e}", path.display()))),
        };
        Ok(RawMail {
            reference: reference.clone(),
            bytes: Bytes::from(bytes),
            received_at: metadata.modified().ok(),
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
                            self.unavailable(format!("cannot create {}: {e}", sub.display()))
                        })?;
                }
                self.complete(reference, sub.join("cur"), "S").await
            }
            None => self.complete(reference, self.root.join("cur"), "FS").await,
        }
    }
}

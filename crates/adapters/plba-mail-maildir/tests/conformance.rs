//! The Maildir backend runs the shared `MailBackend` conformance suite on real directories,
//! looking at the files themselves to see where each message stands.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::path::{Path, PathBuf};

use bytes::Bytes;
use plba_contracts::async_trait;
use plba_mail::{MailBackend, MailRef};
use plba_mail_maildir::{Maildir, MaildirOptions};
use plba_testkit::mail_backend::{MailboxFactory, MailboxSpec, Standing, TestMailbox};

struct MaildirFactory;

#[async_trait]
impl MailboxFactory for MaildirFactory {
    async fn create(&self, spec: MailboxSpec) -> Box<dyn TestMailbox> {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::open(MaildirOptions {
            path: dir.path().join("Maildir"),
            max_message_bytes: spec.max_message_bytes,
            rejected_folder: spec.rejected_folder,
            ..MaildirOptions::default()
        })
        .unwrap();
        Box::new(TestMaildir { maildir, _dir: dir })
    }
}

struct TestMaildir {
    maildir: Maildir,
    /// Removed with the mailbox.
    _dir: tempfile::TempDir,
}

impl TestMaildir {
    /// Every file of the Maildir and its sub-folders holding the message `key`, with the
    /// folder (`None`: the Maildir itself) and the sub-directory it is in.
    fn places(&self, key: &str) -> Vec<(Option<String>, &'static str, PathBuf)> {
        let root = self.maildir.root();
        let mut folders: Vec<(Option<String>, PathBuf)> = vec![(None, root.to_owned())];
        for entry in std::fs::read_dir(root).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if let Some(folder) = name.strip_prefix('.') {
                folders.push((Some(folder.to_owned()), root.join(&name)));
            }
        }
        let mut places = Vec::new();
        for (folder, path) in folders {
            for sub in ["new", "cur"] {
                for file in files(&path.join(sub)) {
                    let name = file.file_name().unwrap().to_str().unwrap();
                    if name == key || name.starts_with(&format!("{key}:2,")) {
                        places.push((folder.clone(), sub, file));
                    }
                }
            }
        }
        places
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|entry| entry.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[async_trait]
impl TestMailbox for TestMaildir {
    fn backend(&self) -> &dyn MailBackend {
        &self.maildir
    }

    async fn deliver(&self, message: &[u8]) -> MailRef {
        let key = self
            .maildir
            .deliver(Bytes::copy_from_slice(message))
            .await
            .unwrap();
        MailRef::new(self.maildir.name(), key)
    }

    async fn remove(&self, reference: &MailRef) {
        for (_, _, file) in self.places(&reference.key) {
            std::fs::remove_file(file).unwrap();
        }
    }

    async fn listed(&self) -> Vec<MailRef> {
        // What the source publishes: the keys its scan of new/ finds.
        let keys = self.maildir.scan_new().await.unwrap();
        keys.into_iter()
            .map(|key| MailRef::new(self.maildir.name(), key))
            .collect()
    }

    async fn standing(&self, reference: &MailRef) -> Standing {
        let places = self.places(&reference.key);
        assert!(places.len() <= 1, "message in several places: {places:?}");
        let Some((folder, sub, file)) = places.into_iter().next() else {
            return Standing::Missing;
        };
        if let Some(folder) = folder {
            return Standing::InFolder(folder);
        }
        let name = file.file_name().unwrap().to_str().unwrap();
        let flags = name.rsplit_once(":2,").map_or("", |(_, flags)| flags);
        match (sub, flags.contains('F'), flags.contains('S')) {
            (_, true, _) => Standing::Flagged,
            ("cur", false, true) => Standing::Seen,
            _ => Standing::New,
        }
    }
}

plba_testkit::mail_backend_conformance!(Some(MaildirFactory));

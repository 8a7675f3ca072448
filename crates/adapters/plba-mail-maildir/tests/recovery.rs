//! The Maildir source after its directory was deleted, replaced or moved away, and with a
//! file in `new/` whose name is not UTF-8. The rescan interval is an hour in the watch
//! tests, so only a working inotify watch (or the source's own repair) can make them pass.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use plba_contracts::TaskQueue;
use plba_mail::MailRef;
use plba_mail_maildir::{Maildir, MaildirOptions};
use plba_testkit::wait::{eventually, eventually_async};

mod support;

use support::{Running, run_source};

const DEADLINE: Duration = Duration::from_secs(20);

/// An hour: no rescan happens within a test.
const NO_RESCAN_MS: u64 = 3_600_000;

fn open(root: &Path, rescan_ms: u64, create: bool) -> Arc<Maildir> {
    Arc::new(
        Maildir::open(MaildirOptions {
            path: root.to_path_buf(),
            rescan_interval_ms: rescan_ms,
            create,
            ..MaildirOptions::default()
        })
        .unwrap(),
    )
}

async fn published(running: &Running) -> u64 {
    running.queue.stats().await.unwrap().published
}

/// Delivers two messages into the Maildir at `root`, one after the other, and waits for
/// each to be published: the first by a scan, the second by the restored watch.
async fn both_published(root: &Path, running: &Running) {
    deliver(root, "1.M1P1.test");
    eventually_async(DEADLINE, "a message in the Maildir published", || async {
        published(running).await == 1
    })
    .await;
    deliver(root, "2.M2P1.test");
    eventually_async(
        DEADLINE,
        "the next one published on notification",
        || async { published(running).await == 2 },
    )
    .await;
}

/// `rm -rf root` while the source may already be creating the directories again (then
/// the removal finds the root not empty, and is simply repeated, as an operator would).
fn remove_maildir(root: &Path) {
    for _ in 0..100 {
        match std::fs::remove_dir_all(root) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => {}
        }
    }
    panic!("{} could not be removed", root.display());
}

/// Delivers one message into `root` the Maildir way, as an MTA would.
fn deliver(root: &Path, name: &str) {
    std::fs::write(root.join("tmp").join(name), b"Subject: hi\r\n\r\nbody").unwrap();
    std::fs::rename(root.join("tmp").join(name), root.join("new").join(name)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_maildir_is_recreated_and_watched_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let maildir = open(&root, NO_RESCAN_MS, true);
    let running = run_source(&maildir);
    eventually(DEADLINE, "first scan", || running.source.scans() >= 1).await;

    remove_maildir(&root);
    eventually(DEADLINE, "the Maildir recreated (create: true)", || {
        ["tmp", "new", "cur"]
            .iter()
            .all(|sub| root.join(sub).is_dir())
    })
    .await;
    maildir
        .deliver(Bytes::from_static(b"Subject: after\r\n\r\nbody"))
        .await
        .unwrap();
    eventually_async(
        DEADLINE,
        "a message in the recreated Maildir published",
        || async { published(&running).await == 1 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maildir_recreated_by_someone_else_is_watched_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    open(&root, NO_RESCAN_MS, true);
    // `create: false`: the source must not make the directories, only find them again.
    let maildir = open(&root, NO_RESCAN_MS, false);
    let running = run_source(&maildir);
    eventually(DEADLINE, "first scan", || running.source.scans() >= 1).await;

    let scans = running.source.scans();
    std::fs::remove_dir_all(&root).unwrap();
    eventually(DEADLINE, "the deletion noticed", || {
        running.source.scans() > scans
    })
    .await;
    assert!(!root.exists(), "create: false never makes the directories");
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    both_published(&root, &running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maildir_moved_away_and_replaced_is_watched_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let maildir = open(&root, NO_RESCAN_MS, true);
    let running = run_source(&maildir);
    eventually(DEADLINE, "first scan", || running.source.scans() >= 1).await;

    // Moving the Maildir keeps the watched directories alive under another name.
    std::fs::rename(&root, dir.path().join("Maildir.old")).unwrap();
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    both_published(&root, &running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_name_that_is_not_utf8_is_renamed_once_and_published() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let maildir = open(&root, 20, true);
    let raw = std::ffi::OsStr::from_bytes(b"1700000000.M1P1.bad\xff\xfe.host");
    std::fs::write(root.join("tmp/staged"), b"Subject: odd\r\n\r\nbody").unwrap();
    std::fs::rename(root.join("tmp/staged"), root.join("new").join(raw)).unwrap();

    let running = run_source(&maildir);
    eventually_async(DEADLINE, "the message published", || async {
        published(&running).await == 1
    })
    .await;
    let scans = running.source.scans();
    eventually(DEADLINE, "several more rescans", || {
        running.source.scans() >= scans + 5
    })
    .await;
    assert_eq!(published(&running).await, 1, "published once");
    let new: Vec<String> = std::fs::read_dir(root.join("new"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        new,
        vec!["1700000000.M1P1.bad%FF%FE.host".to_owned()],
        "renamed to a UTF-8 name, invalid bytes escaped, nothing lost"
    );
    let delivery = running.queue.consume().await.unwrap();
    let reference = MailRef::from_task(delivery.task()).unwrap();
    assert_eq!(reference.key, "1700000000.M1P1.bad%FF%FE.host");
}

//! The Maildir source and backend on real directories.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use plba_contracts::{TaskError, TaskHandler, TaskQueue, async_trait};
use plba_mail::{InFlight, MailHandler, MailOutcome, MailRef, MailTaskHandler, RawMail};
use plba_mail_maildir::{Maildir, MaildirOptions};
use plba_testkit::wait::{eventually, eventually_async};

mod support;

use support::run_source;

const DEADLINE: Duration = Duration::from_secs(20);

fn maildir(dir: &tempfile::TempDir, rescan_ms: u64, rejected_folder: Option<&str>) -> Arc<Maildir> {
    Arc::new(
        Maildir::open(MaildirOptions {
            path: dir.path().join("Maildir"),
            rescan_interval_ms: rescan_ms,
            max_message_bytes: 1024,
            rejected_folder: rejected_folder.map(str::to_owned),
            ..MaildirOptions::default()
        })
        .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_message_is_published_once_while_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = maildir(&dir, 20, None);
    for i in 0..3 {
        maildir
            .deliver(Bytes::from(format!("Subject: {i}\r\n\r\nbody")))
            .await
            .unwrap();
    }
    let running = run_source(&maildir);
    eventually_async(DEADLINE, "three published", || async {
        running.queue.stats().await.unwrap().published == 3
    })
    .await;
    let scans = running.source.scans();
    eventually(DEADLINE, "several more rescans", || {
        running.source.scans() >= scans + 5
    })
    .await;
    assert_eq!(
        running.queue.stats().await.unwrap().published,
        3,
        "in-flight messages are not published again"
    );
    assert_eq!(running.in_flight.len(), 3);
    running.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_message_is_noticed_without_waiting_for_a_rescan() {
    let dir = tempfile::tempdir().unwrap();
    // A rescan an hour away: only the notification can make this pass.
    let maildir = maildir(&dir, 3_600_000, None);
    let running = run_source(&maildir);
    eventually(DEADLINE, "first scan", || running.source.scans() >= 1).await;
    maildir
        .deliver(Bytes::from_static(b"Subject: hi\r\n\r\nbody"))
        .await
        .unwrap();
    eventually_async(DEADLINE, "published on notification", || async {
        running.queue.stats().await.unwrap().published == 1
    })
    .await;
    running.stop.cancel();
}

struct Decides(fn(&RawMail) -> Result<MailOutcome, TaskError>);

#[async_trait]
impl MailHandler for Decides {
    async fn handle_mail(&self, mail: &RawMail) -> Result<MailOutcome, TaskError> {
        (self.0)(mail)
    }
}

async fn complete_one(
    maildir: &Arc<Maildir>,
    body: &'static [u8],
    decide: fn(&RawMail) -> Result<MailOutcome, TaskError>,
) -> (Result<(), TaskError>, String) {
    let key = maildir.deliver(Bytes::from_static(body)).await.unwrap();
    let reference = MailRef::new(maildir.name(), &key);
    let in_flight = Arc::new(InFlight::new());
    in_flight.begin(&reference.identity());
    let handler =
        MailTaskHandler::new(Arc::clone(maildir), Arc::new(Decides(decide)), in_flight, 5);
    let mut task = reference.to_task().unwrap();
    task.attempt = 1;
    (handler.handle(&task).await, key)
}

#[tokio::test]
async fn completion_moves_to_cur_with_flags_and_never_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = maildir(&dir, 1_000, None);

    let (ok, seen) = complete_one(&maildir, b"Subject: ok\r\n\r\nx", |mail| {
        assert!(mail.bytes.starts_with(b"Subject: ok"));
        Ok(MailOutcome::done("order", "stored"))
    })
    .await;
    assert!(ok.is_ok());
    let (rejected, flagged) = complete_one(&maildir, b"Subject: bad\r\n\r\nx", |_| {
        Ok(MailOutcome::rejected("no attachment"))
    })
    .await;
    assert!(rejected.is_ok(), "a recorded rejection is acked");
    let (failed, failed_key) = complete_one(&maildir, b"Subject: worse\r\n\r\nx", |_| {
        Err(TaskError::permanent("handler bug"))
    })
    .await;
    assert!(!failed.unwrap_err().is_transient(), "dead-lettered");
    let (retry, unseen) = complete_one(&maildir, b"Subject: later\r\n\r\nx", |_| {
        Err(TaskError::transient("db down"))
    })
    .await;
    assert!(retry.unwrap_err().is_transient());
    let (too_large, large) = complete_one(&maildir, &[b'x'; 2048], |_| panic!("never read")).await;
    assert!(
        too_large.is_ok(),
        "a mail over the limit is a handled rejection"
    );

    let cur = maildir.list_cur().await.unwrap();
    assert!(cur.contains(&format!("{seen}:2,S")), "{cur:?}");
    assert!(cur.contains(&format!("{flagged}:2,FS")), "{cur:?}");
    assert!(cur.contains(&format!("{large}:2,FS")), "{cur:?}");
    assert!(cur.contains(&format!("{failed_key}:2,FS")), "{cur:?}");
    assert_eq!(
        maildir.scan_new().await.unwrap(),
        vec![unseen],
        "only the transient failure stays unseen"
    );
}

#[tokio::test]
async fn rejected_messages_can_go_to_a_sub_folder() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = maildir(&dir, 1_000, Some("Rejected"));
    let (_, key) = complete_one(&maildir, b"Subject: bad\r\n\r\nx", |_| {
        Ok(MailOutcome::rejected("unknown sender"))
    })
    .await;
    let moved = dir
        .path()
        .join("Maildir/.Rejected/cur")
        .join(format!("{key}:2,S"));
    assert!(moved.is_file(), "{} missing", moved.display());
    assert!(maildir.scan_new().await.unwrap().is_empty());
}

#[test]
fn a_rejected_folder_must_be_a_plain_name() {
    let dir = tempfile::tempdir().unwrap();
    let err = Maildir::open(MaildirOptions {
        path: dir.path().join("m"),
        rejected_folder: Some("../escape".into()),
        ..MaildirOptions::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("invalid rejected folder"), "{err}");
}

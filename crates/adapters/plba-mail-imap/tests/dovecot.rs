//! The IMAP polling source and backend against a real Dovecot.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use plba_util::Unpoisoned;
use std::sync::Arc;
use std::time::Duration;

use plba_contracts::{
    CancellationToken, NoopTaskTracer, Secret, TaskError, TaskQueue, Worker, WorkerContext,
    async_trait,
};
use plba_mail::{InFlight, MailHandler, MailOutcome, MailTaskHandler, RawMail};
use plba_mail_imap::{ImapMailbox, ImapMode, ImapOptions, ImapSource, Security};
use plba_queue_memory::{MemoryQueue, MemoryQueueOptions};
use plba_testkit::servers::{Dovecot, IMAP_USER};
use plba_testkit::wait::{eventually, eventually_async};
use plba_workers::QueueWorker;

const DEADLINE: Duration = Duration::from_secs(30);

fn options(dovecot: &Dovecot, rejected_folder: Option<&str>) -> ImapOptions {
    ImapOptions {
        host: "127.0.0.1".into(),
        port: dovecot.port(),
        security: Security::Plain,
        ca_file: None,
        user: IMAP_USER.0.into(),
        password: Secret::new(IMAP_USER.1.into()),
        mailbox: "INBOX".into(),
        poll_interval_ms: 50,
        idle_max_ms: 60_000,
        max_message_bytes: 4096,
        // Room for two of the largest mails: the tests run with the budget nearly full.
        memory_budget_bytes: 8192,
        rejected_folder: rejected_folder.map(str::to_owned),
        command_timeout_ms: 10_000,
        reconnect_initial_ms: 50,
        reconnect_max_ms: 500,
        unhealthy_after_ms: 60_000,
    }
}

/// Every mail handled, by Message-ID, across the tests of this binary.
static HANDLED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn handled_count(message_id: &str) -> usize {
    HANDLED
        .lock_or_recover()
        .iter()
        .filter(|id| id.as_str() == message_id)
        .count()
}

/// Decides by subject: `ok`, `bad` (a recorded rejection), anything else transient.
struct BySubject;

#[async_trait]
impl MailHandler for BySubject {
    async fn handle_mail(&self, mail: &RawMail) -> Result<MailOutcome, TaskError> {
        let text = String::from_utf8_lossy(&mail.bytes);
        if let Some(id) = text.lines().find_map(|l| l.strip_prefix("Message-ID: ")) {
            HANDLED.lock_or_recover().push(id.trim().to_owned());
        }
        if text.contains("Subject: ok") {
            Ok(MailOutcome::done("order", "stored"))
        } else if text.contains("Subject: bad") {
            Ok(MailOutcome::rejected("bad order"))
        } else {
            Err(TaskError::transient("try later"))
        }
    }
}

fn flags(dovecot: &Dovecot, mailbox: &str) -> String {
    dovecot.doveadm(&[
        "fetch",
        "-u",
        IMAP_USER.0,
        "uid flags hdr.subject",
        "mailbox",
        mailbox,
        "all",
    ])
}

async fn run(
    dovecot: &Dovecot,
    rejected_folder: Option<&str>,
) -> (Arc<MemoryQueue>, CancellationToken) {
    run_with(options(dovecot, rejected_folder)).await
}

async fn run_with(options: ImapOptions) -> (Arc<MemoryQueue>, CancellationToken) {
    let (queue, stop, _, _) = run_mode(options, ImapMode::Poll).await;
    (queue, stop)
}

/// Runs a source in `mode` and one QueueWorker; returns the queue, the stop token, the source
/// and the source's task.
async fn run_mode(
    options: ImapOptions,
    mode: ImapMode,
) -> (
    Arc<MemoryQueue>,
    CancellationToken,
    Arc<ImapSource>,
    tokio::task::JoinHandle<()>,
) {
    let queue = Arc::new(
        MemoryQueue::new(
            "mail",
            MemoryQueueOptions {
                max_attempts: 1000,
                ..MemoryQueueOptions::default()
            },
        )
        .unwrap(),
    );
    let in_flight = Arc::new(InFlight::new());
    let source = Arc::new(ImapSource::new(
        options.clone(),
        queue.clone(),
        in_flight.clone(),
        NoopTaskTracer::shared(),
        mode,
    ));
    let backend = Arc::new(ImapMailbox::new(options));
    let handler = Arc::new(MailTaskHandler::new(
        backend,
        Arc::new(BySubject),
        in_flight,
        1000,
    ));
    let worker = QueueWorker::new(
        queue.clone(),
        handler,
        plba_workers::QueueWorkerOptions {
            retry_backoff: plba_contracts::Backoff::new(
                Duration::from_millis(20),
                Duration::from_millis(100),
            ),
            ..plba_workers::QueueWorkerOptions::default()
        },
        Arc::default(),
    );
    let stop = CancellationToken::new();
    let ctx = WorkerContext::new(0, stop.clone(), CancellationToken::new());
    let source_task = tokio::spawn({
        let source = Arc::clone(&source);
        async move {
            let _ = source.run(ctx).await;
        }
    });
    let ctx = WorkerContext::new(1, stop.clone(), CancellationToken::new());
    tokio::spawn(async move { worker.run(ctx).await });
    (queue, stop, source, source_task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_completed_with_flags_and_transient_ones_stay_unseen() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    dovecot.append("INBOX", b"Subject: ok\r\nMessage-ID: <1@x>\r\n\r\nfine\r\n");
    dovecot.append(
        "INBOX",
        b"Subject: bad\r\nMessage-ID: <2@x>\r\n\r\nbroken\r\n",
    );
    dovecot.append(
        "INBOX",
        b"Subject: later\r\nMessage-ID: <3@x>\r\n\r\nwait\r\n",
    );
    let big = format!("Subject: ok\r\n\r\n{}\r\n", "x".repeat(8192));
    dovecot.append("INBOX", big.as_bytes());
    let (queue, stop) = run(&dovecot, None).await;

    eventually(DEADLINE, "completed", || {
        let listing = flags(&dovecot, "INBOX");
        listing.matches("\\Seen").count() == 3
    })
    .await;
    let listing = flags(&dovecot, "INBOX");
    assert_eq!(
        listing.matches("\\Flagged").count(),
        2,
        "the bad one and the too-large one: {listing}"
    );
    eventually_async(DEADLINE, "the transient one is retried", || async {
        queue.stats().await.unwrap().retried >= 2
    })
    .await;
    let unseen = dovecot.mailbox_status("unseen", "INBOX");
    assert!(
        unseen.contains("unseen=1"),
        "only the transient failure stays unseen: {unseen}"
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_messages_can_be_moved_to_a_folder() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    dovecot.append(
        "INBOX",
        b"Subject: bad\r\nMessage-ID: <2@x>\r\n\r\nbroken\r\n",
    );
    dovecot.append("INBOX", b"Subject: ok\r\nMessage-ID: <1@x>\r\n\r\nfine\r\n");
    let (_queue, stop) = run(&dovecot, Some("Rejected")).await;
    eventually(DEADLINE, "moved", || {
        dovecot
            .try_doveadm(&[
                "mailbox",
                "status",
                "-u",
                IMAP_USER.0,
                "messages",
                "Rejected",
            ])
            .is_ok_and(|status| status.contains("messages=1"))
    })
    .await;
    eventually(DEADLINE, "inbox done", || {
        dovecot
            .mailbox_status("messages unseen", "INBOX")
            .contains("messages=1 unseen=0")
    })
    .await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_starttls_work_with_the_configured_ca_and_an_untrusted_server_is_refused() {
    let certificates = plba_testkit::tls::certificates();
    let Some(dovecot) = Dovecot::start_tls(&certificates.cert_pem, &certificates.key_pem) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &certificates.ca_pem).unwrap();
    dovecot.append(
        "INBOX",
        b"Subject: ok\r\nMessage-ID: <tls@x>\r\n\r\nover TLS\r\n",
    );
    dovecot.append(
        "INBOX",
        b"Subject: ok\r\nMessage-ID: <starttls@x>\r\n\r\nover STARTTLS\r\n",
    );

    // Without the CA, the server's certificate is not trusted: the connection is refused.
    let untrusted = ImapOptions {
        security: Security::Tls,
        port: dovecot.tls_port().unwrap(),
        ..options(&dovecot, None)
    };
    let mailbox = ImapMailbox::new(untrusted);
    let reference = plba_mail::MailRef {
        mailbox: mailbox.name().to_owned(),
        key: "1:1".into(),
        uidvalidity: None,
        uid: Some(1),
    };
    let refused = plba_util::error_chain(
        &plba_mail::MailBackend::fetch(&mailbox, &reference)
            .await
            .unwrap_err(),
    );
    assert!(
        refused.contains("TLS handshake failed") && refused.to_lowercase().contains("certificate"),
        "{refused}"
    );

    // Implicit TLS with the CA: the first message is processed.
    let tls = ImapOptions {
        security: Security::Tls,
        port: dovecot.tls_port().unwrap(),
        ca_file: Some(ca_file.clone()),
        ..options(&dovecot, None)
    };
    let (_queue, stop) = run_with(tls).await;
    eventually(DEADLINE, "processed over TLS", || {
        dovecot
            .mailbox_status("unseen", "INBOX")
            .contains("unseen=0")
    })
    .await;
    stop.cancel();

    // STARTTLS on the plain port, with the CA.
    dovecot.append(
        "INBOX",
        b"Subject: ok\r\nMessage-ID: <starttls2@x>\r\n\r\nagain\r\n",
    );
    let starttls = ImapOptions {
        security: Security::Starttls,
        ca_file: Some(ca_file),
        ..options(&dovecot, None)
    };
    let (_queue, stop) = run_with(starttls).await;
    eventually(DEADLINE, "processed over STARTTLS", || {
        dovecot
            .mailbox_status("unseen", "INBOX")
            .contains("unseen=0")
    })
    .await;
    stop.cancel();
}

fn idle_options(dovecot: &Dovecot, idle_max_ms: u64) -> ImapOptions {
    ImapOptions {
        // A poll an hour away: only IDLE can notice new mail in time.
        poll_interval_ms: 3_600_000,
        idle_max_ms,
        ..options(dovecot, None)
    }
}

fn unseen(dovecot: &Dovecot) -> String {
    dovecot.mailbox_status("unseen", "INBOX")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_notices_new_mail_without_waiting_for_a_poll_and_stops_promptly() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let (_queue, stop, source, task) =
        run_mode(idle_options(&dovecot, 3_600_000), ImapMode::Idle).await;
    eventually(DEADLINE, "idling", || source.idles() >= 1).await;
    dovecot.append(
        "INBOX",
        b"Subject: ok\r\nMessage-ID: <idle@x>\r\n\r\nwake up\r\n",
    );
    eventually(DEADLINE, "processed while idling", || {
        unseen(&dovecot).contains("unseen=0")
    })
    .await;
    eventually(DEADLINE, "idling again", || source.idles() >= 2).await;
    stop.cancel();
    plba_testkit::wait::within(Duration::from_secs(5), "stop while in IDLE", task)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_is_reissued_after_its_maximum_and_keeps_working() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let (_queue, stop, source, _task) = run_mode(idle_options(&dovecot, 200), ImapMode::Idle).await;
    eventually(DEADLINE, "IDLE re-issued several times", || {
        source.idles() >= 4
    })
    .await;
    dovecot.append(
        "INBOX",
        b"Subject: ok\r\nMessage-ID: <re-idle@x>\r\n\r\nstill listening\r\n",
    );
    eventually(DEADLINE, "processed after re-IDLE", || {
        unseen(&dovecot).contains("unseen=0")
    })
    .await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_clear_unhealthy_state_without_a_busy_loop() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let options = ImapOptions {
        password: Secret::new("wrong".into()),
        reconnect_initial_ms: 100,
        reconnect_max_ms: 400,
        unhealthy_after_ms: 300,
        ..options(&dovecot, None)
    };
    let (_queue, stop, source, _task) = run_mode(options, ImapMode::Poll).await;
    eventually(DEADLINE, "unhealthy", || {
        source.health().state() == plba_contracts::HealthState::Unhealthy
    })
    .await;
    let reason = source.health().reason().unwrap().to_owned();
    assert!(
        reason.contains("login as test") && reason.contains("refused"),
        "{reason}"
    );
    assert!(
        !reason.contains("wrong"),
        "the password never shows: {reason}"
    );
    // Measured between two attempts seen to start, not from the moment the state turned
    // unhealthy: that moment falls anywhere within a pause, and the next attempt may follow
    // it closely.
    let before = source.connection_attempts();
    eventually(DEADLINE, "another attempt", || {
        source.connection_attempts() > before
    })
    .await;
    let before = source.connection_attempts();
    let window = std::time::Instant::now();
    eventually(DEADLINE, "the attempt after it", || {
        source.connection_attempts() > before
    })
    .await;
    assert!(
        window.elapsed() >= Duration::from_millis(100),
        "reconnects back off instead of looping: {:?}",
        window.elapsed()
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_reconnected_and_nothing_is_lost_or_done_twice() {
    let Some(mut dovecot) = Dovecot::start() else {
        return;
    };
    let options = ImapOptions {
        reconnect_initial_ms: 50,
        reconnect_max_ms: 200,
        // A server that stops answering is noticed through command timeouts.
        command_timeout_ms: 1_000,
        ..options(&dovecot, None)
    };
    let (_queue, stop, source, _task) = run_mode(options, ImapMode::Idle).await;
    eventually(DEADLINE, "idling", || source.idles() >= 1).await;
    dovecot.kill();
    eventually(DEADLINE, "degraded while the server is down", || {
        source.health().state() == plba_contracts::HealthState::Degraded
    })
    .await;
    dovecot.restart();
    for n in 0..3 {
        dovecot.append(
            "INBOX",
            format!("Subject: ok\r\nMessage-ID: <after-restart-{n}@x>\r\n\r\nx\r\n").as_bytes(),
        );
    }
    eventually(DEADLINE, "all processed after the restart", || {
        unseen(&dovecot).contains("unseen=0")
    })
    .await;
    eventually(DEADLINE, "healthy again", || {
        source.health().state() == plba_contracts::HealthState::Ok
    })
    .await;
    let messages = dovecot.mailbox_status("messages", "INBOX");
    assert!(messages.contains("messages=3"), "{messages}");
    for n in 0..3 {
        assert_eq!(
            handled_count(&format!("<after-restart-{n}@x>")),
            1,
            "handled exactly once"
        );
    }
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_budget_smaller_than_a_batch_still_gets_every_mail_through() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let mails: Vec<Vec<u8>> = (0..12)
        .map(|n| {
            format!(
                "Subject: ok\r\nMessage-ID: <budget-{n}@x>\r\n\r\n{}\r\n",
                "x".repeat(1500)
            )
            .into_bytes()
        })
        .collect();
    dovecot.append_all("INBOX", &mails);
    // Room for one of these mails at a time, in front of eight handlers asking together:
    // every batch after the first mail must wait for memory the others give back.
    let options = ImapOptions {
        memory_budget_bytes: 2048,
        ..options(&dovecot, None)
    };
    let queue = Arc::new(MemoryQueue::new("mail", MemoryQueueOptions::default()).unwrap());
    let in_flight = Arc::new(InFlight::new());
    let source = ImapSource::new(
        options.clone(),
        queue.clone(),
        in_flight.clone(),
        NoopTaskTracer::shared(),
        ImapMode::Poll,
    );
    let handler = Arc::new(MailTaskHandler::new(
        Arc::new(ImapMailbox::new(options)),
        Arc::new(BySubject),
        in_flight,
        1000,
    ));
    let stop = CancellationToken::new();
    let ctx = WorkerContext::new(0, stop.clone(), CancellationToken::new());
    tokio::spawn(async move { source.run(ctx).await });
    for copy in 1..=8 {
        let worker = QueueWorker::new(
            queue.clone(),
            Arc::clone(&handler),
            plba_workers::QueueWorkerOptions::default(),
            Arc::default(),
        );
        let ctx = WorkerContext::new(copy, stop.clone(), CancellationToken::new());
        tokio::spawn(async move { worker.run(ctx).await });
    }
    eventually(DEADLINE, "every mail seen", || {
        unseen(&dovecot).contains("unseen=0")
    })
    .await;
    for n in 0..12 {
        assert_eq!(handled_count(&format!("<budget-{n}@x>")), 1, "mail {n}");
    }
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_connecting_ahead_opens_the_mailboxs_connections_before_any_mail() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let options = options(&dovecot, None);
    let queue = Arc::new(MemoryQueue::named("mail"));
    let in_flight = Arc::new(InFlight::new());
    let mailbox = Arc::new(ImapMailbox::new(options.clone()));
    let source = ImapSource::new(
        options,
        queue.clone(),
        in_flight.clone(),
        NoopTaskTracer::shared(),
        ImapMode::Idle,
    )
    .connecting_ahead(Arc::clone(&mailbox));
    let stop = CancellationToken::new();
    let ctx = WorkerContext::new(0, stop.clone(), CancellationToken::new());
    tokio::spawn(async move { source.run(ctx).await });
    // Nothing was fetched or marked yet: both connections were opened ahead.
    eventually_async(DEADLINE, "both connections open", || async {
        mailbox.open_connections().await == 2
    })
    .await;
    let handler = MailTaskHandler::new(mailbox, Arc::new(BySubject), in_flight, 10);
    let worker = QueueWorker::new(
        queue.clone(),
        Arc::new(handler),
        plba_workers::QueueWorkerOptions::default(),
        Arc::default(),
    );
    let ctx = WorkerContext::new(1, stop.clone(), CancellationToken::new());
    tokio::spawn(async move { worker.run(ctx).await });
    dovecot.append(
        "INBOX",
        b"Subject: ok\r\nMessage-ID: <ahead@x>\r\n\r\nfine\r\n",
    );
    eventually(DEADLINE, "the mail completed", || {
        flags(&dovecot, "INBOX").contains("\\Seen")
    })
    .await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_tried_by_the_source_alone_not_by_the_connections_it_opens_ahead() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let options = ImapOptions {
        password: Secret::new("wrong".into()),
        ..options(&dovecot, None)
    };
    let mailbox = Arc::new(ImapMailbox::new(options.clone()));
    let source = Arc::new(
        ImapSource::new(
            options,
            Arc::new(MemoryQueue::named("mail")),
            Arc::new(InFlight::new()),
            NoopTaskTracer::shared(),
            ImapMode::Idle,
        )
        .connecting_ahead(Arc::clone(&mailbox)),
    );
    let stop = CancellationToken::new();
    let ctx = WorkerContext::new(0, stop.clone(), CancellationToken::new());
    let running = Arc::clone(&source);
    tokio::spawn(async move { running.run(ctx).await });
    // The third attempt starts only after the first two were refused.
    eventually(DEADLINE, "three attempts", || {
        source.connection_attempts() >= 3
    })
    .await;
    assert!(source.health().reason().unwrap_or("").contains("refused"));
    // One login per attempt, the source's: the server is not asked three times (with the
    // two connections the mailbox would open ahead) for a password it refuses.
    assert_eq!(mailbox.connection_attempts(), 0);
    assert_eq!(mailbox.open_connections().await, 0);
    stop.cancel();
}

//! The shipped example run as an operator runs it — the built binary, Redis, a real SMTP
//! server on loopback — and checked where a user looks: the mailbox the SMTP server
//! delivered to, the console's pages, the webhook's answers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use plba_testkit::process::{AppProcess, http_send, wait_until};
use plba_testkit::servers::RedisServer;
use plba_testkit::smtp::SmtpServer;
use support::{
    DEADLINE, Ports, SECRET, example, in_seconds, invoice, message_ids, now, post_invoice,
    post_payment, reminder_states, start, view_rows,
};

const EXAMPLE: &str = "deploy/invoice_reminders.example.yaml";

/// Two short stages: one at the due moment, one two seconds after.
const SHORT_STAGES: &str =
    "    - name: first\n      after: 0s\n    - name: second\n      after: 2s\n";

struct Running {
    dir: tempfile::TempDir,
    ports: Ports,
    smtp: SmtpServer,
    _redis: RedisServer,
    app: AppProcess,
}

fn running() -> Option<Running> {
    running_with(|text| text)
}

/// [`running`] with the test's configuration changed by `edit`.
fn running_with(edit: impl Fn(String) -> String) -> Option<Running> {
    running_on(SmtpServer::start()?, edit)
}

/// [`running_with`] sending to `smtp`.
fn running_on(smtp: SmtpServer, edit: impl Fn(String) -> String) -> Option<Running> {
    let redis = RedisServer::start()?;
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free();
    let config = dir.path().join("config.yaml");
    let text = example(
        EXAMPLE,
        dir.path(),
        ports,
        smtp.port(),
        &redis.url(),
        SHORT_STAGES,
    );
    std::fs::write(&config, edit(text)).unwrap();
    let app = start(dir.path(), &config, ports, "app.log");
    Some(Running {
        dir,
        ports,
        smtp,
        _redis: redis,
        app,
    })
}

/// A counter of the reminders queue as `/status` shows it (`acked`, `dead`).
fn queue_stat(control: std::net::SocketAddr, stat: &str) -> u64 {
    let reply = plba_testkit::process::http_get(control, "/status").unwrap();
    let status: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    status["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|q| q["name"] == "reminders")
        .map(|q| q["stats"][stat].as_u64().unwrap_or(0))
        .sum()
}

fn stop(run: Running) {
    let (exit, log) = run.app.stop(DEADLINE);
    assert!(exit.success(), "{log}");
}

#[test]
fn a_signed_invoice_becomes_reminders_the_smtp_server_receives_once_each() {
    let Some(run) = running() else { return };
    let body = invoice("INV-100", &in_seconds(2));
    let first = post_invoice(run.ports.webhooks, &body, SECRET, now());
    assert_eq!(first.status, 202, "{first:?}");
    // The accounting system resends the same invoice: one task, the first one's id.
    let again = post_invoice(run.ports.webhooks, &body, SECRET, now());
    assert_eq!(again.status, 200, "{again:?}");
    assert!(again.body.contains(r#""duplicate":true"#), "{again:?}");

    wait_until(DEADLINE, "two reminders scheduled", || {
        reminder_states(run.ports.control).len() == 2
    });
    wait_until(
        DEADLINE,
        "both reminders received by the SMTP server",
        || run.smtp.messages().len() >= 2,
    );
    wait_until(DEADLINE, "both recorded sent", || {
        reminder_states(run.ports.control)
            .iter()
            .all(|(_, _, state)| state == "sent")
    });
    let messages = run.smtp.messages();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    let ids = message_ids(&messages);
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1], "one Message-ID per stage");
    for mail in &messages {
        assert!(
            mail.contains("Subject: Reminder: invoice INV-100 is overdue"),
            "{mail}"
        );
        assert!(
            mail.contains("To: \"ACME Corp\" <ap@acme.example>")
                || mail.contains("To: ACME Corp <ap@acme.example>"),
            "{mail}"
        );
        assert!(mail.contains("120.00 EUR"), "{mail}");
    }
    // The console's invoices page: the invoice, open, two reminders sent.
    let invoices = view_rows(run.ports.control, "invoices");
    assert_eq!(invoices.len(), 1, "{invoices:?}");
    assert_eq!(invoices[0][0], "INV-100");
    assert_eq!(invoices[0][5], "open");
    assert_eq!(invoices[0][6], "2");
    stop(run);
}

#[test]
fn bad_replayed_and_oversized_webhooks_are_refused_and_change_nothing() {
    let Some(run) = running() else { return };
    let addr = run.ports.webhooks;
    let body = invoice("INV-200", &in_seconds(0));
    let forged = post_invoice(addr, &body, "not-the-shared-secret-at-all", now());
    assert_eq!(forged.status, 401, "{forged:?}");
    let replayed = post_invoice(addr, &body, SECRET, now() - 3_600);
    assert_eq!(replayed.status, 401, "{replayed:?}");
    let unsigned = http_send(
        addr,
        "POST",
        "/hooks/invoices",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(unsigned.status, 401);
    let huge = invoice(&"X".repeat(2 << 20), &in_seconds(0));
    let oversized = post_invoice(addr, &huge, SECRET, now());
    assert_eq!(oversized.status, 413, "{}", oversized.head);
    // Signed and JSON, but not an invoice: refused with the reason, before any task.
    let not_an_invoice = r#"{"invoice_id": "INV-201", "customer": "ACME"}"#;
    let refused = post_invoice(addr, not_an_invoice, SECRET, now());
    assert_eq!(refused.status, 422, "{refused:?}");
    assert!(refused.body.contains("email"), "{refused:?}");
    let mut bad_address = serde_json::from_str::<serde_json::Value>(&body).unwrap();
    bad_address["email"] = "a@[127.0.0.1]".into();
    let bad_address = bad_address.to_string();
    assert_eq!(post_invoice(addr, &bad_address, SECRET, now()).status, 422);
    assert_eq!(queue_stat(run.ports.control, "published"), 0);
    assert!(view_rows(run.ports.control, "invoices").is_empty());
    assert!(reminder_states(run.ports.control).is_empty());
    assert!(run.smtp.messages().is_empty());
    stop(run);
}

#[test]
fn a_payment_before_the_due_moment_sends_nothing() {
    let Some(run) = running() else { return };
    // Due in fifteen seconds: time enough for the payment to arrive first on a busy machine.
    let body = invoice("INV-300", &in_seconds(15));
    assert_eq!(
        post_invoice(run.ports.webhooks, &body, SECRET, now()).status,
        202
    );
    wait_until(DEADLINE, "two reminders scheduled", || {
        reminder_states(run.ports.control).len() == 2
    });
    let paid = post_payment(run.ports.webhooks, "INV-300");
    assert_eq!(paid.status, 202, "{paid:?}");
    // The invoice, the payment and both reminders, handled: the reminders found it paid.
    wait_until(DEADLINE, "every task handled", || {
        queue_stat(run.ports.control, "acked") == 4
    });
    let states = reminder_states(run.ports.control);
    assert!(
        states.iter().all(|(_, _, state)| state == "cancelled"),
        "{states:?}"
    );
    assert!(run.smtp.messages().is_empty(), "{:?}", run.smtp.messages());
    assert_eq!(view_rows(run.ports.control, "invoices")[0][5], "paid");
    stop(run);
}

fn wait_killed(app: &mut AppProcess) {
    app.signal("KILL");
    wait_until(DEADLINE, "the killed process gone", || {
        app.exited().is_some()
    });
}

#[test]
fn kill_9_mid_run_then_a_restart_loses_no_reminder_and_sends_none_twice() {
    // One handler: the invoices are handled one by one, so the kill lands among them.
    let Some(Running {
        dir,
        ports,
        mut smtp,
        _redis,
        mut app,
    }) = running_with(|text| text.replace("  workers: 4", "  workers: 1"))
    else {
        return;
    };
    // The mail server is down: reminders that come due fail and wait, none is half sent.
    smtp.kill();
    const INVOICES: usize = 30;
    for n in 0..INVOICES {
        let body = invoice(&format!("INV-4{n:02}"), &in_seconds(1));
        assert_eq!(
            post_invoice(ports.webhooks, &body, SECRET, now()).status,
            202
        );
    }
    // Killed while the invoices are being handled (some scheduled, some not yet).
    wait_until(DEADLINE, "the first invoice handled", || {
        !view_rows(ports.control, "invoices").is_empty()
    });
    wait_killed(&mut app);

    smtp.restart();
    let config = dir.path().join("config.yaml");
    let app = start(dir.path(), &config, ports, "app-restarted.log");
    let deadline = std::time::Instant::now() + DEADLINE;
    while smtp.messages().len() < 2 * INVOICES {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {} reminders received; states {:?}; dead {}; log: {}",
            smtp.messages().len(),
            2 * INVOICES,
            reminder_states(ports.control),
            queue_stat(ports.control, "dead"),
            app.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    wait_until(DEADLINE, "every reminder recorded sent", || {
        let states = reminder_states(ports.control);
        states.len() == 2 * INVOICES && states.iter().all(|(_, _, s)| s == "sent")
    });
    let ids = message_ids(&smtp.messages());
    let mut distinct = ids.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 2 * INVOICES, "a reminder is missing");
    assert_eq!(ids.len(), 2 * INVOICES, "a reminder was sent twice");
    let (exit, log) = app.stop(DEADLINE);
    assert!(exit.success(), "{log}");
    drop(dir);
}

#[test]
fn the_embedded_demo_runs_without_a_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let control = std::net::SocketAddr::from(([127, 0, 0, 1], plba_testkit::servers::free_port()));
    let set = format!("platform.control.bind={control}");
    let mut app = AppProcess::spawn(
        support::command(dir.path(), &["--set", &set]),
        &dir.path().join("demo.log"),
    );
    wait_until(DEADLINE, "the demo ready", || {
        assert!(app.exited().is_none(), "it stopped: {}", app.log());
        plba_testkit::process::http_get(control, "/health/ready").is_ok_and(|r| r.status == 200)
    });
    // The demo's own secret, from its embedded configuration.
    let demo = std::net::SocketAddr::from(([127, 0, 0, 1], 8088));
    let body = invoice("DEMO-1", &in_seconds(-20));
    let reply = post_invoice(demo, &body, "demo-invoices-secret-0123456789", now());
    assert_eq!(reply.status, 202, "{reply:?}");
    let outbox = dir.path().join("data/outbox");
    wait_until(DEADLINE, "the demo's reminder written", || {
        std::fs::read_dir(&outbox).is_ok_and(|d| d.count() == 1)
    });
    let mail = std::fs::read_dir(&outbox)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(mail).unwrap();
    assert!(text.contains("invoice DEMO-1"), "{text}");
    let (exit, log) = app.stop(DEADLINE);
    assert!(exit.success(), "{log}");
}

#[test]
fn on_the_memory_queue_reminders_lost_with_the_process_are_recovered_from_the_store() {
    // The memory queue dies with the process; the store does not.
    let Some(Running {
        dir,
        ports,
        smtp,
        _redis,
        mut app,
    }) = running_with(|text| {
        let start = text.find("  queue:\n    kind: redis").unwrap();
        let end = text[start..].find("  # Handlers").unwrap() + start;
        format!(
            "{}  queue:\n    kind: memory\n\n{}",
            &text[..start],
            &text[end..]
        )
        .replace("recover_after: 1m", "recover_after: 1s")
    })
    else {
        return;
    };
    let body = invoice("INV-700", &in_seconds(4));
    assert_eq!(
        post_invoice(ports.webhooks, &body, SECRET, now()).status,
        202
    );
    wait_until(DEADLINE, "two reminders scheduled", || {
        reminder_states(ports.control).len() == 2
    });
    wait_killed(&mut app);
    assert!(smtp.messages().is_empty(), "sent before the kill");
    let config = dir.path().join("config.yaml");
    let app = start(dir.path(), &config, ports, "app-restarted.log");
    wait_until(DEADLINE, "both reminders sent after the restart", || {
        let states = reminder_states(ports.control);
        states.len() == 2 && states.iter().all(|(_, _, s)| s == "sent")
    });
    let ids = message_ids(&smtp.messages());
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_ne!(ids[0], ids[1]);
    let (exit, log) = app.stop(DEADLINE);
    assert!(exit.success(), "{log}");
}

#[test]
fn reminders_go_over_starttls_to_a_server_whose_certificate_a_private_ca_signed() {
    let certificates = plba_testkit::tls::certificates();
    let Some(smtp) = SmtpServer::start_starttls(&certificates.cert_pem, &certificates.key_pem)
    else {
        return;
    };
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), &certificates.ca_pem).unwrap();
    let tls = format!("    tls: starttls\n    ca_file: {}\n", ca.path().display());
    let Some(run) = running_on(smtp, |text| {
        text.replace("    tls: none   # example\n", &tls)
    }) else {
        return;
    };
    let body = invoice("INV-800", &in_seconds(0));
    assert_eq!(
        post_invoice(run.ports.webhooks, &body, SECRET, now()).status,
        202
    );
    wait_until(DEADLINE, "both reminders received over TLS", || {
        run.smtp.messages().len() == 2
    });
    stop(run);
}

#[test]
fn check_config_refuses_webhooks_on_the_control_planes_port() {
    let dir = tempfile::tempdir().unwrap();
    let same = std::net::SocketAddr::from(([127, 0, 0, 1], plba_testkit::servers::free_port()));
    let ports = Ports {
        webhooks: same,
        control: same,
    };
    let text = example(
        EXAMPLE,
        dir.path(),
        ports,
        2525,
        "redis://127.0.0.1:6379/",
        SHORT_STAGES,
    );
    let config = dir.path().join("invoice_reminders.yaml");
    std::fs::write(&config, text).unwrap();
    let config = config.display().to_string();
    let output = support::command(dir.path(), &["--config", &config, "check-config"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "accepted: {stderr}");
    assert!(
        stderr.contains("invoice_reminders.webhooks.listen")
            && stderr.contains("platform.control.bind"),
        "{stderr}"
    );
    // Apart, the same file passes.
    let apart = example(
        EXAMPLE,
        dir.path(),
        Ports::free(),
        2525,
        "redis://127.0.0.1:6379/",
        SHORT_STAGES,
    );
    std::fs::write(dir.path().join("invoice_reminders.yaml"), apart).unwrap();
    let output = support::command(dir.path(), &["--config", &config, "check-config"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

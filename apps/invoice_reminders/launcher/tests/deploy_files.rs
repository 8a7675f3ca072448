//! The PostgreSQL example as an operator runs it on several hosts: two instances of the
//! built binary sharing one PostgreSQL store and one Redis queue, a real SMTP server. The
//! invoices posted to either instance are reminded once each, whichever instance sends.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use plba_testkit::postgres::PostgresServer;
use plba_testkit::process::wait_until;
use plba_testkit::servers::RedisServer;
use plba_testkit::smtp::SmtpServer;
use support::{
    DEADLINE, Ports, SECRET, example, in_seconds, invoice, message_ids, now, post_invoice,
    reminder_states, start_with_env, view_rows,
};

const STAGES: &str = "    - name: first\n      after: 0s\n    - name: second\n      after: 1s\n";

#[test]
fn two_instances_of_the_postgres_example_share_the_store_and_send_each_reminder_once() {
    let Some(pg) = PostgresServer::start() else {
        return;
    };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    // The password travels in the environment, as the example says.
    let url = pg
        .url()
        .replacen("://plba@", &format!("://plba:{}@", pg.password()), 1);
    let env = [("PLBA__INVOICE_REMINDERS__STORE__URL", url)];
    let instances: Vec<(tempfile::TempDir, Ports)> = (0..2)
        .map(|_| (tempfile::tempdir().unwrap(), Ports::free()))
        .collect();
    let apps: Vec<_> = instances
        .iter()
        .map(|(dir, ports)| {
            let config = dir.path().join("config.yaml");
            let text = example(
                "deploy/invoice_reminders.postgres.example.yaml",
                dir.path(),
                *ports,
                smtp.port(),
                &redis.url(),
                STAGES,
            );
            assert!(text.contains("kind: postgres"), "{text}");
            std::fs::write(&config, text).unwrap();
            start_with_env(dir.path(), &config, *ports, "app.log", &env)
        })
        .collect();

    const INVOICES: usize = 10;
    for n in 0..INVOICES {
        let (_, ports) = &instances[n % 2];
        let body = invoice(&format!("INV-5{n:02}"), &in_seconds(1));
        assert_eq!(
            post_invoice(ports.webhooks, &body, SECRET, now()).status,
            202
        );
    }
    let control = instances[1].1.control;
    wait_until(DEADLINE, "every reminder recorded sent", || {
        let states = reminder_states(control);
        states.len() == 2 * INVOICES && states.iter().all(|(_, _, s)| s == "sent")
    });
    let ids = message_ids(&smtp.messages());
    let mut distinct = ids.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 2 * INVOICES, "a reminder is missing");
    assert_eq!(ids.len(), 2 * INVOICES, "a reminder was sent twice");
    // Either instance's console shows every invoice: the store is shared.
    assert_eq!(
        view_rows(instances[0].1.control, "invoices").len(),
        INVOICES
    );
    assert_eq!(
        pg.query("SELECT COUNT(*) FROM reminders WHERE state = 'sent'"),
        (2 * INVOICES).to_string()
    );
    for app in apps {
        let (exit, log) = app.stop(DEADLINE);
        assert!(exit.success(), "{log}");
    }
}

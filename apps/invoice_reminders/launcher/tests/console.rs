//! The console's pages of invoice_reminders in a real browser: headless Chromium signs in
//! with a viewer token and finds the invoices (one paid, one reminded) and their reminders,
//! drawn from the store through the `AppView` contract.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use fantoccini::Locator;
use plba_testkit::browser::{ChromeDriver, Console};
use plba_testkit::process::wait_until;
use plba_testkit::servers::RedisServer;
use plba_testkit::smtp::SmtpServer;
use support::{
    DEADLINE, Ports, SECRET, VIEWER, example, in_seconds, invoice, now, post_invoice, post_payment,
    reminder_states, start,
};

const STAGES: &str = "    - name: first\n      after: 0s\n    - name: final\n      after: 30d\n";

#[test]
fn the_console_shows_invoices_and_the_reminders_sent() {
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free();
    let config = dir.path().join("config.yaml");
    let text = example(
        "deploy/invoice_reminders.example.yaml",
        dir.path(),
        ports,
        smtp.port(),
        &redis.url(),
        STAGES,
    );
    std::fs::write(&config, text).unwrap();
    let app = start(dir.path(), &config, ports, "app.log");
    let reminded = invoice("INV-600", &in_seconds(0));
    assert_eq!(
        post_invoice(ports.webhooks, &reminded, SECRET, now()).status,
        202
    );
    let paid = invoice("INV-601", &in_seconds(3_600));
    assert_eq!(
        post_invoice(ports.webhooks, &paid, SECRET, now()).status,
        202
    );
    wait_until(
        DEADLINE,
        "one reminder sent, the other invoice scheduled",
        || {
            let states = reminder_states(ports.control);
            states
                .iter()
                .any(|(i, s, st)| i == "INV-600" && s == "first" && st == "sent")
                && states.iter().filter(|(i, _, _)| i == "INV-601").count() == 2
        },
    );
    assert_eq!(post_payment(ports.webhooks, "INV-601").status, 202);
    wait_until(DEADLINE, "the paid invoice's reminders cancelled", || {
        reminder_states(ports.control)
            .iter()
            .filter(|(i, _, st)| i == "INV-601" && st == "cancelled")
            .count()
            == 2
    });

    let url = format!("http://{}", ports.control);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let console = Console::open(&driver, 1280, 900, &url).await;
        console.sign_in(VIEWER, "tests (viewer)").await;
        console.show("view/invoices", "Invoices").await;
        // The paid invoice, and the reminded one with its one reminder sent.
        console
            .wait_for(Locator::XPath(
                "//tr[td/button[text()='INV-601'] and td[text()='paid']]",
            ))
            .await;
        console
            .wait_for(Locator::XPath(
                "//tr[td/button[text()='INV-600'] and td[text()='open'] and td[text()='1']]",
            ))
            .await;
        // Opened (its number is a button), an invoice lists its reminders.
        console
            .browser()
            .find(Locator::XPath("//td/button[text()='INV-600']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        console
            .wait_for(Locator::XPath("//pre[contains(text(), '\"reminders\"')]"))
            .await;
        console.show("view/reminders", "Reminders").await;
        console
            .wait_for(Locator::XPath(
                "//tr[td/button[text()='INV-600'] and td[text()='first'] and td[text()='sent']]",
            ))
            .await;
        console
            .wait_for(Locator::XPath(
                "//tr[td/button[text()='INV-601'] and td[text()='cancelled']]",
            ))
            .await;
        console.close().await;
    });
    assert_eq!(smtp.messages().len(), 1);
    let (exit, log) = app.stop(DEADLINE);
    assert!(exit.success(), "{log}");
}

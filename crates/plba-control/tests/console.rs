//! The console in a real headless Chromium, served by the platform's own control server
//! (no application): an admin signs in with a token, sets a log filter from the
//! Configuration page, sees it in force, and signs out.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use fantoccini::Locator;
use hyper::Method;
use plba_testkit::browser::{ChromeDriver, Console};
use support::{ADMIN, Fixture, VIEWER, with_tokens};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_a_log_filter_from_the_configuration_page() {
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let fx = Fixture::start(with_tokens()).await;
    let console = Console::open(&driver, 1280, 900, &fx.url()).await;
    console.sign_in(ADMIN, "ops (admin)").await;

    console.show("config", "Configuration").await;
    console
        .wait_for(Locator::Id("log-level"))
        .await
        .send_keys("info,plba_core=debug")
        .await
        .unwrap();
    console
        .browser()
        .find(Locator::XPath("//button[text()='Set log level']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    console
        .wait_for(Locator::XPath(
            "//p[@id='message' and text()='log level: info,plba_core=debug']",
        ))
        .await;
    // In force: the configuration every caller reads has it.
    let config = fx
        .client(Some(VIEWER))
        .request(Method::GET, "/config")
        .await
        .unwrap()
        .json();
    assert_eq!(config["config"]["log"]["level"], "info,plba_core=debug");

    console
        .browser()
        .find(Locator::Id("sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    console.wait_for(Locator::Id("token")).await;
    let audit = fx
        .client(Some(VIEWER))
        .request(Method::GET, "/audit")
        .await
        .unwrap()
        .json();
    let actions: Vec<(&str, &str)> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["who"].as_str().unwrap(), a["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("ops", "sign-out"),
            ("ops", "log-level"),
            ("ops", "sign-in")
        ],
        "the audit names who did what, newest first"
    );
    console.close().await;
}

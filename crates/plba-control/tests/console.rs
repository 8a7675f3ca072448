//! The console in a real headless Chromium, served by the platform's own control server
//! (no application): an admin signs in with a token, sets a log filter from the
//! Configuration page, sees it in force, and signs out.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use fantoccini::{ClientBuilder, Locator};
use hyper::Method;
use plba_testkit::browser::ChromeDriver;
use support::{ADMIN, DEADLINE, Fixture, VIEWER, with_tokens};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_a_log_filter_from_the_configuration_page() {
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let fx = Fixture::start(with_tokens()).await;
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(driver.capabilities(1280, 900));
    let browser = builder
        .connect(&driver.url())
        .await
        .expect("a Chromium session");

    browser.goto(&format!("{}/ui", fx.url())).await.unwrap();
    browser
        .wait()
        .at_most(DEADLINE)
        .for_element(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(ADMIN)
        .await
        .unwrap();
    browser
        .find(Locator::Css("#sign-in-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .at_most(DEADLINE)
        .for_element(Locator::XPath(
            "//span[@id='who' and contains(text(), 'ops (admin)')]",
        ))
        .await
        .unwrap();

    browser
        .execute("location.hash = '#config'", vec![])
        .await
        .unwrap();
    browser
        .wait()
        .at_most(DEADLINE)
        .for_element(Locator::Id("log-level"))
        .await
        .unwrap()
        .send_keys("info,plba_core=debug")
        .await
        .unwrap();
    browser
        .find(Locator::XPath("//button[text()='Set log level']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .at_most(DEADLINE)
        .for_element(Locator::XPath(
            "//p[@id='message' and text()='log level: info,plba_core=debug']",
        ))
        .await
        .unwrap();
    // In force: the configuration every caller reads has it.
    let config = fx
        .client(Some(VIEWER))
        .request(Method::GET, "/config")
        .await
        .unwrap()
        .json();
    assert_eq!(config["config"]["log"]["level"], "info,plba_core=debug");

    browser
        .find(Locator::Id("sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .at_most(DEADLINE)
        .for_element(Locator::Id("token"))
        .await
        .unwrap();
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
    browser.close().await.unwrap();
}

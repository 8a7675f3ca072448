//! A real headless Chromium for tests, driven over WebDriver: Debian's `chromium` and
//! `chromium-driver`, installed on demand like the other servers; chromedriver listens on
//! loopback at a free port and is stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

use crate::servers::{ensure_installed, free_port, unavailable};

/// A running chromedriver.
#[derive(Debug)]
pub struct ChromeDriver {
    child: Child,
    port: u16,
    chromium: PathBuf,
}

impl ChromeDriver {
    /// Installs Chromium and its driver when missing and starts the driver; `None` only
    /// outside CI when they cannot be had.
    pub fn start() -> Option<Self> {
        let chromium = match ensure_installed("chromium", "chromium") {
            Ok(path) => path,
            Err(why) => {
                unavailable("chromium", &why)?;
                return None;
            }
        };
        let driver = match ensure_installed("chromedriver", "chromium-driver") {
            Ok(path) => path,
            Err(why) => {
                unavailable("chromedriver", &why)?;
                return None;
            }
        };
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self {
            child,
            port,
            chromium,
        })
    }

    /// The WebDriver URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Capabilities for a headless Chromium of a given window size, with everything that
    /// would reach out to the network turned off (the test machine has no network).
    pub fn capabilities(
        &self,
        width: u32,
        height: u32,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": self.chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-quic",
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        capabilities
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long a console step may take before the test fails.
const STEP: Duration = Duration::from_secs(20);

/// A headless Chromium on the operator console, with the steps every console test takes:
/// open it, sign in with a token, show a page.
#[derive(Debug)]
pub struct Console {
    browser: Client,
}

impl Console {
    /// A Chromium session of `width`×`height` on `base_url`'s console (`/ui`).
    pub async fn open(driver: &ChromeDriver, width: u32, height: u32, base_url: &str) -> Self {
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(driver.capabilities(width, height));
        let browser = builder
            .connect(&driver.url())
            .await
            .expect("a Chromium session");
        browser
            .goto(&format!("{base_url}/ui"))
            .await
            .expect("the console");
        Self { browser }
    }

    /// The browser, for what a test does beyond the common steps.
    pub fn browser(&self) -> &Client {
        &self.browser
    }

    /// The element `locator` finds, once it is there.
    pub async fn wait_for(&self, locator: Locator<'_>) -> Element {
        self.browser
            .wait()
            .at_most(STEP)
            .for_element(locator)
            .await
            .unwrap_or_else(|e| panic!("{locator:?} never shown: {e}"))
    }

    /// Clicks the element `locator` finds, once it is there.
    pub async fn click(&self, locator: Locator<'_>) {
        self.wait_for(locator)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("{locator:?} cannot be clicked: {e}"));
    }

    /// Signs in with `token` on the sign-in form and waits until the page says `who`
    /// (`name (role)`) is signed in.
    pub async fn sign_in(&self, token: &str, who: &str) {
        self.wait_for(Locator::Id("token"))
            .await
            .send_keys(token)
            .await
            .expect("type the token");
        self.submit_sign_in().await;
        self.wait_for(Locator::XPath(&format!(
            "//span[@id='who' and contains(text(), '{who}')]"
        )))
        .await;
    }

    /// Signs in as user `user` with `password` on the sign-in form and waits until the page
    /// says `who` (`name (role)`) is signed in.
    pub async fn sign_in_as(&self, user: &str, password: &str, who: &str) {
        // Present from the start, the form is shown once the page knows no one is signed in.
        let field = self
            .wait_for(Locator::XPath(
                "//section[@id='sign-in' and not(@hidden)]//input[@id='user']",
            ))
            .await;
        field.clear().await.expect("clear the user");
        field.send_keys(user).await.expect("type the user");
        self.sign_in(password, who).await;
    }

    /// The text the sign-in form shows after a refused sign-in, once it shows one.
    pub async fn sign_in_refusal(&self, user: &str, password: &str) -> String {
        let field = |id: &'static str| async move {
            let shown = format!("//section[@id='sign-in' and not(@hidden)]//input[@id='{id}']");
            let input = self.wait_for(Locator::XPath(&shown)).await;
            input.clear().await.expect("clear the field");
            input
        };
        field("user")
            .await
            .send_keys(user)
            .await
            .expect("type the user");
        field("token")
            .await
            .send_keys(password)
            .await
            .expect("type the password");
        self.submit_sign_in().await;
        self.wait_for(Locator::XPath(
            "//p[@id='sign-in-error' and string-length(text()) > 0]",
        ))
        .await
        .text()
        .await
        .expect("the refusal's text")
    }

    /// Clicks the sign-in form's button.
    async fn submit_sign_in(&self) {
        self.browser
            .find(Locator::Css("#sign-in-form button"))
            .await
            .expect("the sign-in button")
            .click()
            .await
            .expect("sign in");
    }

    /// Shows console page `page` (its `#` anchor) and waits for its `title`.
    pub async fn show(&self, page: &str, title: &str) {
        self.browser
            .execute(&format!("location.hash = '#{page}'"), vec![])
            .await
            .expect("change the page");
        self.wait_for(Locator::XPath(&format!(
            "//h2[@id='title' and text()='{title}']"
        )))
        .await;
    }

    /// Ends the browser session.
    pub async fn close(self) {
        self.browser.close().await.expect("close the browser");
    }
}

//! A real headless Chromium for tests, driven over WebDriver: Debian's `chromium` and
//! `chromium-driver`, installed on demand like the other servers; chromedriver listens on
//! loopback at a free port and is stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

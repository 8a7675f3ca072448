//! A real OpenID Connect provider for tests: the `oidc-provider` package (an OpenID
//! Certified implementation), installed with the machine's npm when missing and run with
//! its Node.js on loopback at a free port, with one client and the accounts a test names.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use plba_util::Unpoisoned;

use crate::servers::{free_port, unavailable};

/// The package's version, pinned so every run tests against the same provider.
const PACKAGE: &str = "oidc-provider@9.13.3";

/// The script that configures and starts it.
const SCRIPT: &str = include_str!("../oidc/provider.mjs");

/// A running provider; stopped when dropped.
#[derive(Debug)]
pub struct OidcProvider {
    issuer: String,
    child: Child,
}

/// What the provider knows: its one client and its accounts.
#[derive(Clone, Debug)]
pub struct OidcSetup {
    /// The client's id.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// Its one allowed redirect URL.
    pub redirect_uri: String,
    /// Each account's name and `groups`.
    pub accounts: Vec<(String, Vec<String>)>,
}

/// Where the package is installed: once per machine, beside other temporary files.
fn install_dir() -> PathBuf {
    std::env::temp_dir().join(format!("plba-testkit-{}", PACKAGE.replace('@', "-")))
}

fn installed() -> bool {
    install_dir()
        .join("node_modules/oidc-provider/package.json")
        .is_file()
}

/// Installs the package with npm when missing: into a directory of its own, moved into
/// place whole, so a half-done install is never taken for a done one.
fn ensure_package() -> Result<PathBuf, String> {
    static NPM: Mutex<()> = Mutex::new(());
    let _one_at_a_time = NPM.lock_or_recover();
    crate::servers::ensure_installed("node", "nodejs")?;
    crate::servers::ensure_installed("npm", "npm")?;
    if !installed() {
        let staging = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        std::fs::write(
            staging.path().join("package.json"),
            r#"{"private": true, "type": "module"}"#,
        )
        .map_err(|e| format!("package.json: {e}"))?;
        let output = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", PACKAGE])
            .current_dir(staging.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run npm: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "npm install {PACKAGE} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let staged = staging.keep();
        if std::fs::rename(&staged, install_dir()).is_err() && !installed() {
            return Err(format!(
                "cannot move the install into {}",
                install_dir().display()
            ));
        }
    }
    let script = install_dir().join("provider.mjs");
    if std::fs::read_to_string(&script).ok().as_deref() != Some(SCRIPT) {
        std::fs::write(&script, SCRIPT).map_err(|e| format!("provider.mjs: {e}"))?;
    }
    Ok(script)
}

impl OidcProvider {
    /// Installs (when missing) and starts a provider whose issuer is
    /// `http://localhost:<port>` (a host other than the console's `127.0.0.1`, so a browser
    /// treats them as two sites, as in production); `None` only outside CI when it cannot
    /// be had.
    pub fn start(setup: &OidcSetup) -> Option<Self> {
        let script = match ensure_package() {
            Ok(script) => script,
            Err(why) => {
                unavailable("oidc-provider", &why)?;
                return None;
            }
        };
        let port = free_port();
        let issuer = format!("http://localhost:{port}");
        let accounts: serde_json::Map<String, serde_json::Value> = setup
            .accounts
            .iter()
            .map(|(name, groups)| (name.clone(), serde_json::json!({ "groups": groups })))
            .collect();
        let mut child = Command::new("node")
            .arg(&script)
            .current_dir(install_dir())
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_ISSUER", &issuer)
            .env("OIDC_CLIENT_ID", &setup.client_id)
            .env("OIDC_CLIENT_SECRET", &setup.client_secret)
            .env("OIDC_REDIRECT_URI", &setup.redirect_uri)
            .env(
                "OIDC_ACCOUNTS",
                serde_json::Value::Object(accounts).to_string(),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node");
        let deadline = Instant::now() + Duration::from_secs(30);
        let discovery = "/.well-known/openid-configuration";
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        while !crate::process::http_get(addr, discovery).is_ok_and(|r| r.status == 200) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("oidc-provider exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "oidc-provider did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self { issuer, child })
    }

    /// Its issuer URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

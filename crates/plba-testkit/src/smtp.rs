//! A real SMTP server for tests: aiosmtpd (from PyPI, installed with the machine's Python
//! when missing) on loopback at a free port, storing every message it accepts in a Maildir.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use plba_util::Unpoisoned;

use crate::servers::{free_port, unavailable};

/// A private aiosmtpd on 127.0.0.1; stopped when dropped.
#[derive(Debug)]
pub struct SmtpServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Whether it requires STARTTLS with the certificate and key in `dir`.
    tls: bool,
}

fn python() -> &'static str {
    "python3"
}

fn importable() -> bool {
    Command::new(python())
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Installs aiosmtpd with pip when it cannot be imported; one install at a time.
fn ensure_aiosmtpd() -> Result<(), String> {
    static PIP: Mutex<()> = Mutex::new(());
    if importable() {
        return Ok(());
    }
    let _one_at_a_time = PIP.lock_or_recover();
    if importable() {
        return Ok(());
    }
    let pip = |extra: &[&str]| {
        Command::new(python())
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "aiosmtpd",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run {} -m pip: {e}", python()))
    };
    let first = pip(&[])?;
    // A Debian Python refuses system-wide installs unless told it may.
    let output = if first.status.success() {
        first
    } else {
        pip(&["--break-system-packages"])?
    };
    if output.status.success() && importable() {
        Ok(())
    } else {
        Err(format!(
            "pip install aiosmtpd failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

impl SmtpServer {
    /// Installs (when missing) and starts a server; `None` only outside CI when it cannot be
    /// had.
    pub fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// Like [`start`](Self::start), requiring `STARTTLS` with this certificate and key
    /// (PEM) before it takes mail.
    pub fn start_starttls(cert_pem: &str, key_pem: &str) -> Option<Self> {
        Self::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Option<Self> {
        if let Err(why) = ensure_aiosmtpd() {
            unavailable("aiosmtpd", &why)?;
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir for the SMTP server");
        if let Some((cert, key)) = tls {
            std::fs::write(dir.path().join("smtp.crt"), cert).expect("write the certificate");
            std::fs::write(dir.path().join("smtp.key"), key).expect("write the key");
        }
        let mut server = Self {
            port: free_port(),
            dir,
            child: None,
            tls: tls.is_some(),
        };
        server.spawn();
        Some(server)
    }

    fn spawn(&mut self) {
        let mut command = Command::new(python());
        command
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port));
        if self.tls {
            command
                .arg("--tlscert")
                .arg(self.dir.path().join("smtp.crt"))
                .arg("--tlskey")
                .arg(self.dir.path().join("smtp.key"));
        }
        let mut child = command
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.maildir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("aiosmtpd exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The Maildir the accepted messages are delivered to.
    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("Maildir")
    }

    /// Every message accepted so far, as text.
    pub fn messages(&self) -> Vec<String> {
        ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.maildir().join(sub)).ok())
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|entry| std::fs::read(entry.path()).ok())
            .map(|raw| String::from_utf8_lossy(&raw).into_owned())
            .collect()
    }

    /// Stops the server (mail sent meanwhile is refused at the connection).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and Maildir.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.kill();
    }
}

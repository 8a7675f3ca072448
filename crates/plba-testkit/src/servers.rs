//! Real servers for tests: installed from Debian packages when missing, started privately on
//! loopback at a free port, stopped when dropped.
//!
//! Under `CI=true` a server that cannot be had is a test failure; elsewhere the test is
//! skipped with a message, so a laptop without root can still run the rest.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn find(binary: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin"])
        .map(|dir| PathBuf::from(dir).join(binary))
        .find(|candidate| candidate.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Makes sure `binary` exists, installing Debian `package` with apt-get (as root) if needed.
/// One install at a time per process; `apt-get update` runs once first.
pub fn ensure_installed(binary: &str, package: &str) -> Result<PathBuf, String> {
    static APT: Mutex<()> = Mutex::new(());
    static UPDATED: OnceLock<bool> = OnceLock::new();
    if let Some(path) = find(binary) {
        return Ok(path);
    }
    let _one_at_a_time = APT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = find(binary) {
        return Ok(path);
    }
    if !is_root() {
        return Err(format!(
            "{binary} is missing and only root can install {package}"
        ));
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run apt-get: {e}"))
            .and_then(|o| {
                if o.status.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "apt-get {} failed: {}",
                        args.join(" "),
                        String::from_utf8_lossy(&o.stderr)
                    ))
                }
            })
    };
    if !*UPDATED.get_or_init(|| apt(&["update", "-q"]).is_ok()) {
        return Err("apt-get update failed".to_owned());
    }
    apt(&["install", "-y", "-q", "--no-install-recommends", package])?;
    find(binary).ok_or_else(|| format!("{package} installed but {binary} not found"))
}

/// A loopback port free at the time of the call.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Handles an unavailable server: a failure under CI, a skip message elsewhere.
fn unavailable(what: &str, why: &str) -> Option<std::convert::Infallible> {
    assert!(
        !in_ci(),
        "{what} is required under CI=true but unavailable: {why}"
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("skipping: {what} unavailable: {why}");
    }
    None
}

/// A private redis-server on 127.0.0.1, no persistence, data in a temporary directory.
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    persistent: bool,
}

impl RedisServer {
    /// Installs (when missing) and starts a server; `None` only outside CI when Redis cannot
    /// be had.
    pub fn start() -> Option<Self> {
        Self::start_with(false)
    }

    /// Like [`start`](Self::start), with an append-only file fsynced on every write, so the
    /// data survives [`restart`](Self::restart).
    pub fn start_persistent() -> Option<Self> {
        Self::start_with(true)
    }

    fn start_with(persistent: bool) -> Option<Self> {
        let binary = match ensure_installed("redis-server", "redis-server") {
            Ok(binary) => binary,
            Err(why) => {
                unavailable("redis-server", &why)?;
                return None;
            }
        };
        let dir = tempfile::tempdir().expect("temp dir for redis");
        let mut server = Self {
            binary,
            port: free_port(),
            dir,
            child: None,
            persistent,
        };
        server.spawn();
        Some(server)
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.binary)
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--save",
                "",
                "--appendonly",
                if self.persistent { "yes" } else { "no" },
                "--appendfsync",
                "always",
                "--dir",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        use std::io::{Read, Write};
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                let mut answer = [0u8; 7];
                if stream.write_all(b"PING\r\n").is_ok()
                    && stream.read_exact(&mut answer).is_ok()
                    && &answer == b"+PONG\r\n"
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (as a crash would) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port; the data survives only for a persistent server.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

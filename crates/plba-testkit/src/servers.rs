//! Real servers for tests: installed from Debian packages when missing, started privately on
//! loopback at a free port, stopped when dropped.
//!
//! Under `CI=true` a server that cannot be had is a test failure; elsewhere the test is
//! skipped with a message, so a laptop without root can still run the rest.

use plba_util::Unpoisoned;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn find(binary: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin"])
        .map(|dir| PathBuf::from(dir).join(binary))
        .find(|candidate| candidate.is_file())
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Makes sure `binary` exists, installing Debian `package` with apt-get (as root) if needed.
/// One install at a time per process; `apt-get update` runs once first.
pub fn ensure_installed(binary: &str, package: &str) -> Result<PathBuf, String> {
    ensure_package(package, || find(binary))
}

/// Makes sure what `present` looks for exists, installing Debian `package` with apt-get (as
/// root) when it finds nothing; returns what it finds.
pub fn ensure_package(
    package: &str,
    present: impl Fn() -> Option<PathBuf>,
) -> Result<PathBuf, String> {
    static APT: Mutex<()> = Mutex::new(());
    static UPDATED: OnceLock<bool> = OnceLock::new();
    if let Some(path) = present() {
        return Ok(path);
    }
    let _one_at_a_time = APT.lock_or_recover();
    if let Some(path) = present() {
        return Ok(path);
    }
    if !is_root() {
        return Err(format!("{package} is missing and only root can install it"));
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
    present().ok_or_else(|| format!("{package} installed but what it provides is not found"))
}

/// A loopback port free at the time of the call.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Whether this process runs as root, which `what` needs: outside CI a test without it is
/// skipped (with a message), under `CI=true` it fails.
pub fn running_as_root(what: &str) -> bool {
    is_root() || unavailable(what, "it needs root").is_some()
}

/// Handles an unavailable server: a failure under CI, a skip message elsewhere.
pub(crate) fn unavailable(what: &str, why: &str) -> Option<std::convert::Infallible> {
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
#[derive(Debug)]
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
        // A port free when picked can be taken by another test's server before this one
        // binds it: then this one exits and the other answers. Another port, then.
        for _ in 0..5 {
            match server.try_spawn() {
                Ok(()) => return Some(server),
                Err(taken) => {
                    server.kill();
                    server.port = free_port();
                    #[allow(clippy::print_stderr)]
                    {
                        eprintln!("redis-server: {taken}; trying another port");
                    }
                }
            }
        }
        panic!("redis-server could not get a port of its own in 5 tries");
    }

    /// Starts the server on its port and waits until it answers: `Err` when the port turned
    /// out to be another server's.
    fn try_spawn(&mut self) -> Result<(), String> {
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
        self.wait_ready()
    }

    /// Starts the server again on the same port (a restart), which must be free still.
    fn spawn(&mut self) {
        if let Err(taken) = self.try_spawn() {
            panic!("redis-server cannot restart: {taken}");
        }
    }

    /// Waits until the server on the port answers and is this one (it names this server's
    /// directory as its own): a `PING` alone would take another test's server, started on
    /// the same port, for it.
    fn wait_ready(&mut self) -> Result<(), String> {
        use std::io::{Read, Write};
        let own_dir = self
            .dir
            .path()
            .canonicalize()
            .unwrap_or_else(|_| self.dir.path().to_owned());
        let own_dir = own_dir.to_string_lossy().into_owned();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("it exited ({status}): port {} taken", self.port));
            }
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                if stream.write_all(b"CONFIG GET dir\r\n").is_ok() {
                    // `*2 $3 dir $<n> <path>`, five lines; an error (still loading), one.
                    let mut answer = Vec::new();
                    let mut chunk = [0u8; 512];
                    while let Ok(n @ 1..) = stream.read(&mut chunk) {
                        answer.extend_from_slice(&chunk[..n]);
                        let lines = answer.windows(2).filter(|w| w == b"\r\n").count();
                        if lines >= 5 || (answer.starts_with(b"-") && lines >= 1) {
                            break;
                        }
                    }
                    let answer = String::from_utf8_lossy(&answer);
                    if answer.contains(&own_dir) {
                        return Ok(());
                    }
                    if answer.starts_with('*') {
                        return Err(format!(
                            "port {} answered for another server: {answer:?}",
                            self.port
                        ));
                    }
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

    #[cfg(test)]
    fn wait_ready_again(mut self) -> Result<(), String> {
        let ready = self.wait_ready();
        self.kill();
        ready
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

    /// Starts it again on the same port with no data at all, even for a persistent server
    /// (as a server whose disk was lost comes back).
    pub fn restart_empty(&mut self) {
        self.kill();
        for file in ["appendonly.aof", "dump.rdb", "appendonlydir"] {
            let path = self.dir.path().join(file);
            let _ = std::fs::remove_dir_all(&path);
            let _ = std::fs::remove_file(&path);
        }
        self.spawn();
    }

    /// Sends `FLUSHALL` (every key of every database is gone at once) and waits for the OK.
    pub fn flushall(&self) {
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("read timeout");
        stream.write_all(b"FLUSHALL\r\n").expect("send FLUSHALL");
        let mut answer = [0u8; 5];
        stream.read_exact(&mut answer).expect("FLUSHALL answer");
        assert_eq!(&answer, b"+OK\r\n", "FLUSHALL refused");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A private Dovecot IMAP server on 127.0.0.1: its own configuration in a temporary
/// directory, one user (`test` / `secret`), Maildir storage, plaintext login allowed (loopback
/// only). Nothing system-wide is touched.
#[derive(Debug)]
pub struct Dovecot {
    binary: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    tls_port: Option<u16>,
    child: Option<Child>,
}

/// The test user's name and password.
pub const IMAP_USER: (&str, &str) = ("test", "secret");

impl Dovecot {
    /// Installs `dovecot-imapd` when missing and starts a server; `None` only outside CI
    /// when Dovecot cannot be had.
    pub fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// Like [`start`](Self::start), with TLS: implicit TLS on [`tls_port`](Self::tls_port)
    /// and STARTTLS on [`port`](Self::port), using the given certificate and key (PEM).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Option<Self> {
        Self::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Option<Self> {
        let binary = match ensure_installed("dovecot", "dovecot-imapd") {
            Ok(binary) => binary,
            Err(why) => {
                unavailable("dovecot", &why)?;
                return None;
            }
        };
        let dir = tempfile::tempdir().expect("temp dir for dovecot");
        let mut server = Self {
            binary,
            port: free_port(),
            tls_port: tls.map(|_| free_port()),
            dir,
            child: None,
        };
        server.configure(tls);
        server.spawn();
        Some(server)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn configure(&self, tls: Option<(&str, &str)>) {
        use std::os::unix::fs::PermissionsExt;
        let root = self.dir.path();
        // Dovecot's unprivileged processes must reach the mail below the temp dir.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))
            .expect("chmod temp dir");
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(root.join(sub)).expect("dovecot dirs");
        }
        let users = self.path("users");
        std::fs::write(
            &users,
            format!("{}:{{PLAIN}}{}::::::\n", IMAP_USER.0, IMAP_USER.1),
        )
        .expect("users file");
        let status = Command::new("chown")
            .args(["-R", "dovecot:dovecot"])
            .arg(root.join("mail"))
            .status()
            .expect("chown");
        assert!(status.success(), "chown of the mail directory failed");
        let ssl = match tls {
            None => "ssl = no\n".to_owned(),
            Some((cert, key)) => {
                std::fs::write(root.join("cert.pem"), cert).expect("certificate file");
                std::fs::write(root.join("key.pem"), key).expect("key file");
                format!(
                    "ssl = yes\nssl_cert = <{0}/cert.pem\nssl_key = <{0}/key.pem\n",
                    root.display()
                )
            }
        };
        let imaps = self.tls_port.map_or("port = 0".to_owned(), |port| {
            format!("port = {port}\n    ssl = yes")
        });
        let root = root.display();
        let config = format!(
            "base_dir = {root}/run\nstate_dir = {root}/state\nlog_path = {root}/dovecot.log\n\
             protocols = imap\nlisten = 127.0.0.1\n{ssl}disable_plaintext_auth = no\n\
             auth_mechanisms = plain login\nauth_failure_delay = 0\nlogin_trusted_networks = 127.0.0.0/8\nfirst_valid_uid = 1\n\
             mail_location = maildir:{root}/mail/%u/Maildir\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {root}/users\n}}\n\
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {root}/users\n  default_fields = uid=dovecot gid=dovecot home={root}/mail/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {port}\n  }}\n  inet_listener imaps {{\n    {imaps}\n  }}\n}}\n",
            port = self.port
        );
        std::fs::write(self.path("dovecot.conf"), config).expect("dovecot.conf");
    }

    fn spawn(&mut self) {
        use std::os::unix::process::CommandExt;
        let child = Command::new(&self.binary)
            .arg("-F")
            .arg("-c")
            .arg(self.path("dovecot.conf"))
            // Its own process group, so a stop takes every Dovecot process down at once.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dovecot");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut reader = std::io::BufReader::new(stream);
                let mut greeting = String::new();
                if std::io::BufRead::read_line(&mut reader, &mut greeting).is_ok()
                    && greeting.starts_with("* OK")
                {
                    return;
                }
            }
            let log = std::fs::read_to_string(self.path("dovecot.log")).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "dovecot did not answer on port {}: {log}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The IMAP port on 127.0.0.1 (STARTTLS available when started with TLS).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The implicit-TLS (IMAPS) port, when started with TLS.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// Appends a message to `mailbox` (created if missing) as the test user, unseen.
    pub fn append(&self, mailbox: &str, message: &[u8]) {
        self.append_all(mailbox, &[message]);
    }

    /// Appends `messages` to `mailbox` (created if missing) in order, unseen, on one
    /// connection: thousands of mails arrive in well under a second.
    pub fn append_all(&self, mailbox: &str, messages: &[impl AsRef<[u8]>]) {
        use std::io::{BufRead, Write};
        let stream =
            std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect to dovecot");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut writer = std::io::BufWriter::new(stream.try_clone().expect("clone stream"));
        let mut reader = std::io::BufReader::new(stream);
        let expect = |reader: &mut std::io::BufReader<std::net::TcpStream>, tag: &str| {
            let mut line = String::new();
            loop {
                line.clear();
                reader.read_line(&mut line).expect("read from dovecot");
                if line.starts_with(tag) {
                    assert!(line.contains("OK") || tag == "+", "dovecot said {line}");
                    return;
                }
                assert!(!line.is_empty(), "dovecot closed the connection");
            }
        };
        expect(&mut reader, "* OK");
        write!(writer, "a1 LOGIN {} {}\r\n", IMAP_USER.0, IMAP_USER.1).expect("write");
        writer.flush().expect("write");
        expect(&mut reader, "a1 ");
        write!(writer, "a2 CREATE \"{mailbox}\"\r\n").expect("write");
        writer.flush().expect("write");
        // The mailbox may exist already (`a2 NO`): any tagged answer will do.
        loop {
            let mut answer = String::new();
            reader.read_line(&mut answer).expect("read");
            if answer.starts_with("a2 ") {
                break;
            }
            assert!(!answer.is_empty(), "dovecot closed the connection");
        }
        for (n, message) in messages.iter().enumerate() {
            let message = message.as_ref();
            // A non-synchronising literal (LITERAL+): no round trip waiting for `+`.
            write!(
                writer,
                "b{n} APPEND \"{mailbox}\" {{{}+}}\r\n",
                message.len()
            )
            .expect("write");
            writer.write_all(message).expect("write message");
            writer.write_all(b"\r\n").expect("write");
            writer.flush().expect("write");
            expect(&mut reader, &format!("b{n} "));
        }
        write!(writer, "a4 LOGOUT\r\n").expect("write");
        writer.flush().expect("write");
    }

    /// Removes every message from `mailbox` (which must exist).
    pub fn empty(&self, mailbox: &str) {
        self.doveadm(&["expunge", "-u", IMAP_USER.0, "mailbox", mailbox, "all"]);
    }

    /// The test user's `doveadm mailbox status` line for `items` (e.g. `"messages unseen"`)
    /// of `mailbox`: `messages=3 unseen=0`. Panics when the mailbox does not exist.
    pub fn mailbox_status(&self, items: &str, mailbox: &str) -> String {
        self.doveadm(&["mailbox", "status", "-u", IMAP_USER.0, items, mailbox])
    }

    /// How many messages `mailbox` holds and how many of them are unseen; `None` while the
    /// mailbox does not exist.
    pub fn message_counts(&self, mailbox: &str) -> Option<(u64, u64)> {
        let status = self
            .try_doveadm(&[
                "mailbox",
                "status",
                "-u",
                IMAP_USER.0,
                "messages unseen",
                mailbox,
            ])
            .ok()?;
        let value = |name: &str| {
            status
                .split_whitespace()
                .find_map(|item| item.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        };
        Some((value("messages")?, value("unseen")?))
    }

    /// Runs `doveadm -c <conf> <args>` and returns its standard output; panics on failure.
    pub fn doveadm(&self, args: &[&str]) -> String {
        self.try_doveadm(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `doveadm -c <conf> <args>`: standard output, or the error it printed.
    pub fn try_doveadm(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new("doveadm")
            .arg("-c")
            .arg(self.path("dovecot.conf"))
            .args(args)
            .output()
            .map_err(|e| format!("cannot run doveadm: {e}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "doveadm {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// Kills every Dovecot process (as a crash or a power cut would: open connections break)
    /// and waits for the server to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same mail.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_dovecot_accepts_appends() {
        let Some(dovecot) = Dovecot::start() else {
            return;
        };
        dovecot.append("INBOX", b"Subject: hello\r\n\r\nbody\r\n");
        let status = dovecot.mailbox_status("messages unseen", "INBOX");
        assert!(
            status.contains("messages=1") && status.contains("unseen=1"),
            "{status}"
        );
    }

    #[test]
    fn a_redis_server_does_not_take_another_on_its_port_for_itself() {
        let Some(first) = RedisServer::start() else {
            return;
        };
        // As if `free_port` had handed the first server's port out again.
        let mut second = RedisServer {
            binary: first.binary.clone(),
            port: first.port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
            persistent: false,
        };
        let taken = second.try_spawn();
        second.kill();
        assert!(taken.is_err(), "the first server answered for the second");
        assert!(
            first.wait_ready_again().is_ok(),
            "the first is still its own"
        );
    }
}

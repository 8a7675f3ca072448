//! A built program run the way a user runs it: its own process, its output in a file, a
//! signal to stop it; and a small HTTP client for its control plane.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A child process whose standard output and error go to a log file (so a chatty program
/// never blocks on a full pipe). Killed when dropped, if still running.
#[derive(Debug)]
pub struct AppProcess {
    child: Child,
    log: PathBuf,
}

impl AppProcess {
    /// Starts `command` with its output appended to `log`.
    pub fn spawn(mut command: Command, log: &Path) -> Self {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the process log");
        let err = out.try_clone().expect("clone the log handle");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start the program");
        Self {
            child,
            log: log.to_path_buf(),
        }
    }

    /// Everything the process wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `HUP`, `KILL`, …) with kill(1).
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// Whether it has exited, and how.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("poll the process")
    }

    /// Waits up to `deadline` for the process to exit by itself; returns the status and the
    /// log. Panics (after killing it) when it does not exit in time.
    pub fn wait_exit(mut self, deadline: Duration) -> (ExitStatus, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return (status, self.log());
            }
            if start.elapsed() > deadline {
                let _ = self.child.kill();
                panic!("did not exit within {deadline:?}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits up to `deadline` for the exit; returns the status and the
    /// log. Panics (after killing it) when it does not stop in time.
    pub fn stop(mut self, deadline: Duration) -> (ExitStatus, String) {
        self.signal("TERM");
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return (status, self.log());
            }
            if start.elapsed() > deadline {
                let _ = self.child.kill();
                panic!(
                    "did not stop within {deadline:?} after SIGTERM; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `condition` every 20 ms until it holds; panics with `what` after `deadline`.
/// Returns how long it took.
pub fn wait_until(deadline: Duration, what: &str, condition: impl FnMut() -> bool) -> Duration {
    wait_until_explained(deadline, what, condition, String::new)
}

/// [`wait_until`], with what `explain` says at the moment it gives up added to the failure
/// (a process's log, the files it left), for a wait that is hard to understand afterwards.
pub fn wait_until_explained(
    deadline: Duration,
    what: &str,
    mut condition: impl FnMut() -> bool,
    explain: impl FnOnce() -> String,
) -> Duration {
    let start = Instant::now();
    while !condition() {
        if start.elapsed() >= deadline {
            panic!(
                "timed out after {deadline:?} waiting for: {what}\n{}",
                explain()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// An HTTP/1.1 answer: status code and body.
#[derive(Clone, Debug)]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// The body, as text.
    pub body: String,
    /// The status line and headers, as text.
    pub head: String,
}

impl HttpReply {
    /// The value of header `name` (case-insensitive), if the answer has it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// `GET path` on `addr`; `Err` when nothing answers.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<HttpReply> {
    http_request(addr, "GET", path, &[])
}

/// `POST path` on `addr` with a bearer token, no body.
pub fn http_post(addr: SocketAddr, path: &str, token: &str) -> std::io::Result<HttpReply> {
    let auth = format!("Bearer {token}");
    http_request(addr, "POST", path, &[("Authorization", auth.as_str())])
}

/// `method path` on `addr` with `headers` and no body, as a browser or a script sends it.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<HttpReply> {
    http_send(addr, method, path, headers, b"")
}

/// `method path` on `addr` with `headers` and `body` (its `Content-Length` added), as a
/// webhook sender or a script sends it.
pub fn http_send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpReply> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    exchange(stream, addr, method, path, headers, body)
}

/// [`http_request`] from the local address `source` (another loopback address such as
/// 127.0.0.2), as a second client on another host would send it.
pub fn http_request_from(
    source: std::net::IpAddr,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<HttpReply> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket.connect_timeout(&addr.into(), Duration::from_secs(5))?;
    exchange(socket.into(), addr, method, path, headers, b"")
}

fn exchange(
    mut stream: TcpStream,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpReply> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    // A server may answer and close before taking the whole body (a 413 from the length
    // alone): the answer is still read.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    // A server that closes with part of the body unread makes the connection reset after
    // its answer: the answer read before the reset counts.
    if let Err(error) = stream.read_to_end(&mut raw)
        && raw.is_empty()
    {
        return Err(error);
    }
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {head:?}")))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(HttpReply {
        status,
        body,
        head: head.to_owned(),
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

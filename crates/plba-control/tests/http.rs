//! The control plane over real HTTP: endpoints, probes, actions, tokens, bad requests,
//! and Prometheus metrics that move.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::time::Duration;

use hyper::Method;
use plba_config::ControlConfig;
use plba_contracts::{HealthReport, Task, TaskQueue};
use plba_control::ControlClient;
use plba_core::RuntimeState;
use plba_testkit::wait::{eventually, eventually_async, within};
use plba_util::Unpoisoned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;

use support::{ADMIN, DEADLINE, Fixture, VIEWER, with_tokens};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_with_its_status_code_and_json_shape() {
    let fx = Fixture::start(with_tokens()).await;
    let anyone = fx.client(None);

    let live = anyone.request(Method::GET, "/health/live").await.unwrap();
    assert_eq!(
        (live.status, live.json()["status"].as_str()),
        (200, Some("ok"))
    );
    let ready = anyone.request(Method::GET, "/health/ready").await.unwrap();
    assert_eq!(
        (ready.status, ready.json()["status"].as_str()),
        (200, Some("ready"))
    );
    assert_eq!(ready.json()["state"], "running");

    let health = anyone.health().await.unwrap();
    assert_eq!(health.status, 200);
    let body = health.json();
    assert_eq!(body["status"], "ok");
    let contributors = body["contributors"].as_array().unwrap();
    let names: Vec<&str> = contributors
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["database", "worker:jobs-workers"]);
    for c in contributors {
        assert_eq!(c["state"], "ok");
        assert_eq!(c["critical"], true);
        assert!(c["latency_ms"].is_number());
        assert!(c["reason"].is_null());
    }

    fx.queue.publish(Task::new("job", "1")).await.unwrap();
    eventually(DEADLINE, "task in flight", || fx.handler.started() == 1).await;
    let status = anyone.status().await.unwrap();
    assert_eq!(status.status, 200);
    let body = status.json();
    assert_eq!(body["state"], "running");
    assert_eq!(body["modules"], serde_json::json!(["jobs"]));
    assert_eq!(body["config_generation"], 0);
    assert!(body["uptime_seconds"].as_f64().unwrap() >= 0.0);
    assert!(body["version"].is_string());
    let pool = &body["workers"][0];
    assert_eq!(pool["name"], "jobs-workers");
    assert_eq!(pool["status"], "busy");
    assert_eq!(pool["copies"].as_array().unwrap().len(), 3);
    assert_eq!(pool["copies"][0]["restarts"], 0);
    let queue = &body["queues"][0];
    assert_eq!(queue["name"], "jobs");
    assert_eq!(queue["stats"]["in_flight"], 1);
    fx.handler.open();

    let traces = anyone
        .request(Method::GET, "/traces?limit=5")
        .await
        .unwrap();
    assert_eq!(
        (traces.status, traces.json()["traces"].is_array()),
        (200, true)
    );
    let missing = anyone.request(Method::GET, "/traces/0123").await.unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_turns_503_while_stopping_and_while_a_critical_contributor_is_unhealthy() {
    let fx = Fixture::start(with_tokens()).await;
    let anyone = fx.client(None);
    let admin = fx.client(Some(ADMIN));
    let ready = || async { anyone.request(Method::GET, "/health/ready").await.unwrap() };
    assert_eq!(ready().await.status, 200);

    *fx.database.0.lock_or_recover() = HealthReport::unhealthy("connection refused");
    let not_ready = ready().await;
    assert_eq!(not_ready.status, 503);
    assert_eq!(not_ready.json()["reason"], "database: connection refused");
    assert_eq!(anyone.health().await.unwrap().status, 503);
    *fx.database.0.lock_or_recover() = HealthReport::ok();
    assert_eq!(ready().await.status, 200, "back to ready");

    // A task in flight keeps the stop in progress, so readiness can be seen failing during it.
    fx.queue.publish(Task::new("job", "1")).await.unwrap();
    eventually(DEADLINE, "task in flight", || fx.handler.started() == 1).await;
    let stopping = tokio::spawn({
        let admin = fx.client(Some(ADMIN));
        async move { admin.stop().await.unwrap() }
    });
    eventually(DEADLINE, "runtime stopping", || {
        fx.runtime.state() == RuntimeState::Stopping
    })
    .await;
    let during = ready().await;
    assert_eq!(
        (during.status, during.json()["state"].as_str()),
        (503, Some("stopping"))
    );
    fx.handler.open();
    let stopped = within(DEADLINE, "stop action", stopping).await.unwrap();
    assert_eq!(stopped.status, 200);
    assert_eq!(stopped.json()["stop"]["graceful"], true);
    assert_eq!(ready().await.status, 503, "stopped is not ready");
    assert_eq!(
        anyone
            .request(Method::GET, "/health/live")
            .await
            .unwrap()
            .status,
        200,
        "the process is alive"
    );

    let started = admin.start().await.unwrap();
    assert_eq!(
        (started.status, started.json()["state"].as_str()),
        (200, Some("running"))
    );
    assert_eq!(ready().await.status, 200);
    fx.queue.publish(Task::new("job", "2")).await.unwrap();
    eventually(DEADLINE, "workers run again", || fx.handler.finished() == 2).await;
    assert_eq!(admin.start().await.unwrap().status, 409, "already running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_the_runtime() {
    let fx = Fixture::start(with_tokens()).await;
    fx.runtime.stop().await;
    let running = tokio::spawn({
        let runtime = fx.runtime.clone();
        async move { runtime.run_until_shutdown().await }
    });
    eventually(DEADLINE, "running", || {
        fx.runtime.state() == RuntimeState::Running
    })
    .await;
    let reply = fx.client(Some(ADMIN)).shutdown().await.unwrap();
    assert_eq!(
        (reply.status, reply.json()["shutting_down"].as_bool()),
        (202, Some(true))
    );
    let report = within(DEADLINE, "run_until_shutdown returns", running)
        .await
        .unwrap()
        .unwrap();
    assert!(report.graceful);
    assert_eq!(fx.runtime.state(), RuntimeState::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_decide_who_may_do_what() {
    let fx = Fixture::start(with_tokens()).await;
    let anonymous = fx.client(None).reload().await.unwrap();
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["error"]["code"], "unauthorized");
    assert_eq!(fx.client(Some("wrong")).reload().await.unwrap().status, 401);
    let viewer = fx.client(Some(VIEWER)).reload().await.unwrap();
    assert_eq!(
        (viewer.status, viewer.json()["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    assert_eq!(fx.client(Some(ADMIN)).reload().await.unwrap().status, 200);
    assert_eq!(
        fx.client(None).status().await.unwrap().status,
        200,
        "reads are open by default"
    );

    // Reads can be protected too; probes stay open.
    let guarded = Fixture::start(ControlConfig {
        protect_reads: true,
        ..with_tokens()
    })
    .await;
    assert_eq!(guarded.client(None).status().await.unwrap().status, 401);
    assert_eq!(
        guarded.client(Some(VIEWER)).status().await.unwrap().status,
        200
    );
    assert_eq!(
        guarded
            .client(Some(VIEWER))
            .request(Method::GET, "/metrics")
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        guarded
            .client(None)
            .request(Method::GET, "/health/ready")
            .await
            .unwrap()
            .status,
        200
    );

    // No token configured: actions are refused, not open.
    let open = Fixture::start(ControlConfig::default()).await;
    let refused = open.client(Some(ADMIN)).stop().await.unwrap();
    assert_eq!(
        (refused.status, refused.json()["error"]["code"].as_str()),
        (403, Some("actions_disabled"))
    );
    assert_eq!(open.runtime.state(), RuntimeState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_answers_with_the_validation_error_and_keeps_the_old_config() {
    let fx = Fixture::start(with_tokens()).await;
    let admin = fx.client(Some(ADMIN));
    std::fs::write(&fx.config_file, "jobs:\n  greeting: hello\n").unwrap();
    let ok = admin.reload().await.unwrap();
    assert_eq!(
        (ok.status, ok.json()["generation"].as_u64()),
        (200, Some(1))
    );

    std::fs::write(&fx.config_file, "platform:\n  stop_timeout_ms: soon\n").unwrap();
    let rejected = admin.reload().await.unwrap();
    assert_eq!(rejected.status, 422);
    let message = rejected.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("`platform.stop_timeout_ms`") && message.contains("line 2"),
        "{message}"
    );
    let status = admin.status().await.unwrap().json();
    assert_eq!(
        status["config_generation"], 1,
        "the accepted configuration stays in force"
    );
}

/// Sends raw bytes and returns the status line of the answer (empty if none).
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = within(DEADLINE, "raw answer", stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_4xx_json_and_the_server_keeps_answering() {
    let fx = Fixture::start(ControlConfig {
        max_body_bytes: 1024,
        header_timeout_ms: 300,
        request_timeout_ms: 300,
        ..with_tokens()
    })
    .await;
    let addr = fx.server.local_addr();
    let admin = |body: &str| {
        format!(
            "POST /actions/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    // No action takes a body: one is read within the limits and not interpreted.
    assert_eq!(
        raw(addr, admin("{not json").as_bytes()).await,
        "HTTP/1.1 200 OK"
    );
    assert_eq!(
        raw(addr, admin(&"x".repeat(4096)).as_bytes()).await,
        "HTTP/1.1 413 Payload Too Large"
    );
    assert_eq!(raw(addr, admin("{}").as_bytes()).await, "HTTP/1.1 200 OK");

    let anyone = fx.client(None);
    let unknown = anyone.request(Method::GET, "/admin").await.unwrap();
    assert_eq!(
        (unknown.status, unknown.json()["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let wrong = anyone.request(Method::DELETE, "/status").await.unwrap();
    assert_eq!(
        (wrong.status, wrong.json()["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let wrong = anyone.request(Method::GET, "/actions/stop").await.unwrap();
    assert_eq!(wrong.status, 405);

    // Not HTTP at all, a header that never ends, a body that never arrives: a 4xx or a
    // closed connection within the configured timeouts, and no crash.
    assert!(
        raw(addr, b"\x00\x01garbage\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 400")
    );
    let slow_header = raw(addr, b"GET /status HTTP/1.1\r\nHost: x\r\nX-Long: ").await;
    assert!(
        slow_header.is_empty() || slow_header.starts_with("HTTP/1.1 408"),
        "{slow_header}"
    );
    let truncated = format!(
        "POST /actions/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\nContent-Length: 100\r\n\r\n{{"
    );
    assert_eq!(
        raw(addr, truncated.as_bytes()).await,
        "HTTP/1.1 408 Request Timeout"
    );
    assert_eq!(
        anyone
            .request(Method::GET, "/health/live")
            .await
            .unwrap()
            .status,
        200,
        "still serving"
    );
    assert_eq!(fx.runtime.state(), RuntimeState::Running);
}

fn sample(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => f64::NAN,
        })
}

async fn scrape(client: &ControlClient) -> prometheus_parse::Scrape {
    let reply = client.request(Method::GET, "/metrics").await.unwrap();
    assert_eq!(reply.status, 200);
    let lines = reply.body.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text_and_counters_move() {
    let fx = Fixture::start(with_tokens()).await;
    let client = fx.client(None);
    let pool = [("queue", "jobs"), ("worker", "jobs-workers")];

    let before = scrape(&client).await;
    assert_eq!(
        sample(&before, "plba_tasks_processed_total", &pool),
        Some(0.0)
    );
    assert_eq!(sample(&before, "plba_build_info", &[]), Some(1.0));
    assert_eq!(
        sample(&before, "plba_runtime_state", &[("state", "running")]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &before,
            "plba_health_state",
            &[("contributor", "database"), ("state", "ok")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &before,
            "plba_worker_restarts_total",
            &[("worker", "jobs-workers")]
        ),
        Some(0.0)
    );

    fx.handler.open();
    for i in 0..5 {
        fx.queue
            .publish(Task::new("job", i.to_string()))
            .await
            .unwrap();
    }
    eventually_async(DEADLINE, "five tasks acked", || async {
        fx.queue.stats().await.unwrap().acked == 5
    })
    .await;
    let after = scrape(&client).await;
    assert_eq!(
        sample(&after, "plba_tasks_processed_total", &pool),
        Some(5.0)
    );
    assert_eq!(
        sample(&after, "plba_queue_acked_total", &[("queue", "jobs")]),
        Some(5.0)
    );
    assert_eq!(
        sample(&after, "plba_queue_published_total", &[("queue", "jobs")]),
        Some(5.0)
    );
    assert_eq!(
        sample(&after, "plba_queue_depth", &[("queue", "jobs")]),
        Some(0.0)
    );
    assert_eq!(
        sample(&after, "plba_handler_duration_seconds", &pool),
        Some(5.0),
        "five observations in the histogram"
    );
}

/// How long a client waits for an answer that must come "at once": far below the 30 s
/// request timeout and the minute-long header timeouts the flood tests configure, so an
/// answer within it cannot have come from those.
const PROMPTLY: Duration = Duration::from_secs(10);

/// Reads one HTTP/1.1 answer (head, then a `Content-Length` body) from `stream`; panics when
/// it does not arrive within [`PROMPTLY`].
async fn read_answer(stream: &mut tokio::net::TcpStream) -> String {
    let read = async {
        let mut answer = Vec::new();
        let mut buf = [0_u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&answer).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    return text;
                }
            }
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before a whole answer: {text:?}");
            answer.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(PROMPTLY, read)
        .await
        .unwrap_or_else(|_| panic!("no answer within {PROMPTLY:?}"))
}

/// Sends `request` on a new connection and returns the answer.
async fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    read_answer(&mut stream).await
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
}

/// Whether the server closes `stream` (end of file or reset) within [`PROMPTLY`], without
/// having sent anything.
async fn closed_by_server(stream: &mut tokio::net::TcpStream) -> bool {
    let mut buf = [0_u8; 64];
    matches!(
        tokio::time::timeout(PROMPTLY, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// A connection that sent the head of a POST and then trickles its body one byte every
/// 100 ms, as a slow client does, until the test ends.
struct SlowUpload {
    reader: tokio::net::tcp::OwnedReadHalf,
    trickle: tokio::task::JoinHandle<()>,
}

impl SlowUpload {
    async fn start(
        addr: std::net::SocketAddr,
        path: &str,
        token: Option<&str>,
        length: usize,
    ) -> Self {
        Self::open(addr, path, token, length, "").await
    }

    /// Like [`start`](Self::start), returning only once the server is reading the body: it
    /// asks for `100 Continue`, which hyper sends when the handler first reads the body.
    async fn start_in_progress(
        addr: std::net::SocketAddr,
        path: &str,
        token: Option<&str>,
        length: usize,
    ) -> Self {
        let mut upload = Self::open(addr, path, token, length, "Expect: 100-continue\r\n").await;
        let continued = upload.status_line().await;
        assert_eq!(continued, "HTTP/1.1 100 Continue", "the body is being read");
        upload
    }

    async fn open(
        addr: std::net::SocketAddr,
        path: &str,
        token: Option<&str>,
        length: usize,
        extra: &str,
    ) -> Self {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (reader, mut writer) = stream.into_split();
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        writer
            .write_all(
                format!(
                    "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}{extra}Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let trickle = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(100));
            loop {
                every.tick().await;
                if writer.write_all(b" ").await.is_err() {
                    return;
                }
            }
        });
        Self { reader, trickle }
    }

    /// The answer's status line, which must come within [`PROMPTLY`].
    async fn status_line(&mut self) -> String {
        let mut answer = Vec::new();
        let mut buf = [0_u8; 1024];
        let read = async {
            while !answer.windows(2).any(|w| w == b"\r\n") {
                let n = self.reader.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed without an answer");
                answer.extend_from_slice(&buf[..n]);
            }
        };
        tokio::time::timeout(PROMPTLY, read)
            .await
            .unwrap_or_else(|_| panic!("no answer within {PROMPTLY:?}"));
        let text = String::from_utf8_lossy(&answer).into_owned();
        text.lines().next().unwrap_or_default().to_owned()
    }
}

impl Drop for SlowUpload {
    fn drop(&mut self) {
        self.trickle.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_cap_are_closed_oldest_first_and_probes_still_answer() {
    const CAP: usize = 8;
    const OPENED: usize = 30;
    // A minute of header timeout: only the cap can close these connections in time.
    let fx = Fixture::start(ControlConfig {
        max_connections: CAP,
        header_timeout_ms: 60_000,
        ..with_tokens()
    })
    .await;
    let addr = fx.server.local_addr();
    let mut idle = Vec::new();
    for _ in 0..OPENED {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    for (i, stream) in idle.iter_mut().take(OPENED - CAP).enumerate() {
        assert!(
            closed_by_server(stream).await,
            "idle connection {i} of {OPENED} is still open beyond a cap of {CAP}"
        );
    }

    // Probes answer, and so do the other endpoints: each takes an idle connection's slot.
    for path in ["/health/ready", "/health/live", "/status"] {
        let answer = exchange(addr, &get(path)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    }
    let metrics = scrape(&fx.client(None)).await;
    let open = sample(&metrics, "plba_control_connections", &[]).unwrap();
    assert!(
        (1.0..=CAP as f64).contains(&open),
        "{open} connections open"
    );
    assert_eq!(
        sample(&metrics, "plba_control_connections_max", &[]),
        Some(CAP as f64)
    );
    assert!(
        sample(&metrics, "plba_control_connections_evicted_total", &[]).unwrap()
            >= (OPENED - CAP) as f64
    );
    assert_eq!(fx.runtime.state(), RuntimeState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_that_goes_idle_is_closed_by_the_header_timeout() {
    let fx = Fixture::start(ControlConfig {
        header_timeout_ms: 300,
        ..with_tokens()
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(fx.server.local_addr())
        .await
        .unwrap();
    for _ in 0..2 {
        stream
            .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = read_answer(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    assert!(
        closed_by_server(&mut stream).await,
        "an idle kept-alive connection holds its slot forever"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_other_requests_get_a_quick_503_while_probes_still_answer() {
    // Of 8 slots, one is kept for the probes: 7 requests in progress fill the rest.
    const CAP: usize = 8;
    let fx = Fixture::start(ControlConfig {
        max_connections: CAP,
        body_timeout_ms: 60_000,
        request_timeout_ms: 60_000,
        ..with_tokens()
    })
    .await;
    let addr = fx.server.local_addr();
    let mut uploads = Vec::new();
    for _ in 0..CAP - 1 {
        uploads
            .push(SlowUpload::start_in_progress(addr, "/actions/reload", Some(ADMIN), 1_000).await);
    }
    let refused = within(DEADLINE, "a request beyond the share refused", async {
        loop {
            let answer = exchange(addr, &get("/status")).await;
            if answer.starts_with("HTTP/1.1 503") {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let lower = refused.to_ascii_lowercase();
    assert!(lower.contains("connection: close"), "{refused}");
    assert!(lower.contains("retry-after:"), "{refused}");
    assert!(refused.contains("\"overloaded\""), "{refused}");

    for path in ["/health/ready", "/health/live"] {
        let answer = exchange(addr, &get(path)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    }

    drop(uploads);
    eventually_async(DEADLINE, "served again once the uploads ended", || async {
        exchange(addr, &get("/status"))
            .await
            .starts_with("HTTP/1.1 200")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_is_refused_from_the_headers_when_they_do_not_allow_it() {
    // The request timeout stays at its default 30 s; every answer must come well before.
    let fx = Fixture::start(with_tokens()).await;
    let addr = fx.server.local_addr();
    let huge = 100_000_000;
    let mut anonymous = SlowUpload::start(addr, "/actions/stop", None, huge).await;
    assert_eq!(anonymous.status_line().await, "HTTP/1.1 401 Unauthorized");
    let mut wrong = SlowUpload::start(addr, "/actions/stop", Some("wrong"), huge).await;
    assert_eq!(wrong.status_line().await, "HTTP/1.1 401 Unauthorized");
    let mut viewer = SlowUpload::start(addr, "/actions/stop", Some(VIEWER), huge).await;
    assert_eq!(viewer.status_line().await, "HTTP/1.1 403 Forbidden");
    // An admin announcing a body over `max_body_bytes` is refused before it is sent.
    let mut oversized = SlowUpload::start(addr, "/actions/stop", Some(ADMIN), huge).await;
    assert_eq!(
        oversized.status_line().await,
        "HTTP/1.1 413 Payload Too Large"
    );
    assert_eq!(fx.runtime.state(), RuntimeState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorised_slow_body_is_cut_off_by_the_body_timeout() {
    // The body timeout is far shorter than the request timeout (30 s by default).
    let fx = Fixture::start(ControlConfig {
        body_timeout_ms: 500,
        ..with_tokens()
    })
    .await;
    let mut upload = SlowUpload::start(
        fx.server.local_addr(),
        "/actions/reload",
        Some(ADMIN),
        1_000,
    )
    .await;
    assert_eq!(upload.status_line().await, "HTTP/1.1 408 Request Timeout");
    assert_eq!(fx.runtime.state(), RuntimeState::Running);
}

/// One request with `headers` (`Name: value` lines); the status, the head and the body.
async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[String],
) -> (u16, String, serde_json::Value) {
    let mut text = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    let answer = exchange(addr, &text).await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        head.to_owned(),
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// The `name=value` of the answer's `Set-Cookie`, with its attributes.
fn set_cookie(head: &str) -> Option<String> {
    head.lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signs_in_with_a_token_then_acts_with_its_cookie_and_csrf_token() {
    let fx = Fixture::start(with_tokens()).await;
    let addr = fx.server.local_addr();
    let bearer = |token: &str| format!("Authorization: Bearer {token}");

    let (status, _, _) = request(addr, "POST", "/ui/session", &[bearer("wrong")]).await;
    assert_eq!(status, 401, "a wrong token opens no session");

    // A viewer: reads with the cookie, but may change nothing.
    let (status, head, body) = request(addr, "POST", "/ui/session", &[bearer(VIEWER)]).await;
    assert_eq!(
        (status, body["role"].as_str()),
        (200, Some("viewer")),
        "{body}"
    );
    let cookie = set_cookie(&head).expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();
    let csrf = body["csrf"].as_str().unwrap().to_owned();
    let with_cookie = format!("Cookie: {session}");
    let (status, _, info) = request(
        addr,
        "GET",
        "/ui/session",
        std::slice::from_ref(&with_cookie),
    )
    .await;
    assert_eq!((status, info["name"].as_str()), (200, Some("grafana")));
    let (status, _, _) = request(addr, "GET", "/status", std::slice::from_ref(&with_cookie)).await;
    assert_eq!(status, 200);
    // Behind a proxy that passes its basic auth on, the session still counts.
    let proxied = [
        with_cookie.clone(),
        "Authorization: Basic Zm9vOmJhcg==".to_owned(),
    ];
    let (status, _, info) = request(addr, "GET", "/ui/session", &proxied).await;
    assert_eq!(
        (status, info["name"].as_str()),
        (200, Some("grafana")),
        "{info}"
    );
    let forged = [with_cookie.clone(), format!("X-CSRF-Token: {csrf}")];
    let (status, _, refused) = request(addr, "POST", "/actions/reload", &forged).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );

    // An admin: a change needs the session's CSRF token.
    let (_, head, body) = request(addr, "POST", "/ui/session", &[bearer(ADMIN)]).await;
    let admin = format!(
        "Cookie: {}",
        set_cookie(&head).unwrap().split(';').next().unwrap()
    );
    let csrf = body["csrf"].as_str().unwrap().to_owned();
    let (status, _, refused) =
        request(addr, "POST", "/actions/stop", std::slice::from_ref(&admin)).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("csrf"))
    );
    let (status, _, _) = request(
        addr,
        "POST",
        "/actions/stop",
        &[admin.clone(), "X-CSRF-Token: not-it".to_owned()],
    )
    .await;
    assert_eq!(status, 403);
    let allowed = [admin.clone(), format!("X-CSRF-Token: {csrf}")];
    let (status, _, _) = request(addr, "POST", "/actions/stop", &allowed).await;
    assert_eq!(status, 200);
    let (status, _, _) = request(addr, "POST", "/actions/start", &allowed).await;
    assert_eq!(status, 200);

    // Signing out clears the cookie; the session is gone.
    let (status, head, _) = request(addr, "POST", "/ui/session/end", &allowed).await;
    assert_eq!(status, 200);
    assert!(set_cookie(&head).is_some_and(|c| c.contains("Max-Age=0")));
    let (status, _, _) = request(addr, "GET", "/ui/session", &[admin]).await;
    assert_eq!(status, 401);
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_control_plane_answers_https_only_and_its_session_cookie_is_secure() {
    let certificates = plba_testkit::tls::certificates();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &certificates.cert_pem).unwrap();
    std::fs::write(&key, &certificates.key_pem).unwrap();
    let config = ControlConfig {
        tls: Some(plba_config::ControlTls {
            cert_file: cert,
            key_file: key,
        }),
        ..with_tokens()
    };
    let fx = Fixture::start(config).await;
    let addr = fx.server.local_addr();
    let https = |request: String| {
        let ca = certificates.ca_pem.clone();
        async move { plba_testkit::tls::https_exchange(addr, &ca, &request).await }
    };
    let live = https(get("/health/live")).await.unwrap();
    assert!(live.starts_with("HTTP/1.1 200"), "{live}");
    assert!(
        live.to_ascii_lowercase()
            .contains("strict-transport-security: max-age="),
        "browsers are told to come back over TLS only: {live}"
    );
    let signed_in = https(format!(
        "POST /ui/session HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {VIEWER}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ))
    .await
    .unwrap();
    let cookie = signed_in
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_default();
    assert!(cookie.contains("; Secure"), "{signed_in}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(get("/health/live").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = within(
        DEADLINE,
        "the plain request ends",
        plain.read_to_end(&mut answer),
    )
    .await;
    assert!(!String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

fn bearer_header(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}

/// The value of header `name` in an answer's head (names compared without case).
fn header_value(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_filter_is_accepted_encoded_as_a_browser_sends_it_or_through_the_client() {
    let fx = Fixture::start(with_tokens()).await;
    let addr = fx.server.local_addr();
    // As the console sends it: `encodeURIComponent("info,plba_core=debug")`.
    let (status, _, body) = request(
        addr,
        "POST",
        "/actions/log-level?level=info%2Cplba_core%3Ddebug",
        &[bearer_header(ADMIN)],
    )
    .await;
    assert_eq!(
        (status, body["log_level"].as_str()),
        (200, Some("info,plba_core=debug")),
        "{body}"
    );
    // As the CLI's `log-level` sends it.
    let set = fx
        .client(Some(ADMIN))
        .set_log_level("warn,plba_control=trace")
        .await
        .unwrap();
    assert_eq!(
        (set.status, set.json()["log_level"].as_str()),
        (200, Some("warn,plba_control=trace")),
        "{}",
        set.body
    );
    let config = fx
        .client(Some(VIEWER))
        .request(Method::GET, "/config")
        .await
        .unwrap();
    assert_eq!(
        config.json()["config"]["log"]["level"],
        "warn,plba_control=trace"
    );
    // A filter with a level that does not exist is refused, and the last one stays.
    let refused = fx
        .client(Some(ADMIN))
        .set_log_level("info,plba_core=loud")
        .await
        .unwrap();
    assert_eq!(
        (refused.status, refused.json()["error"]["code"].as_str()),
        (422, Some("invalid_configuration"))
    );
    let (status, _, body) =
        request(addr, "POST", "/actions/log-level", &[bearer_header(ADMIN)]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_are_decoded_and_a_wrong_method_is_told_what_the_path_accepts() {
    let fx = Fixture::start(with_tokens()).await;
    let addr = fx.server.local_addr();
    // `task=` is decoded: the refusal quotes the id as it was meant.
    let (status, _, body) = request(
        addr,
        "POST",
        "/queues/jobs/dead-letters/replay?task=not%20an%20id",
        &[bearer_header(ADMIN)],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("\"not an id\" is not a task id"),
        "{message}"
    );
    // So is a path segment.
    let (status, _, body) = request(
        addr,
        "GET",
        "/queues/no%20such/dead-letters",
        &[bearer_header(VIEWER)],
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"no such\""),
        "{body}"
    );
    // A key given twice counts once, with its first value.
    let (status, _, body) = request(
        addr,
        "GET",
        "/queues/jobs/dead-letters?limit=1&limit=x",
        &[bearer_header(VIEWER)],
    )
    .await;
    assert_eq!(
        (status, body["queue"].as_str()),
        (200, Some("jobs")),
        "{body}"
    );
    let (status, _, body) = request(addr, "GET", "/traces?limit=x", &[]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );

    for (method, path, allow) in [
        ("GET", "/actions/stop", "POST"),
        ("DELETE", "/status", "GET, HEAD"),
        ("PUT", "/ui/session", "GET, HEAD, POST"),
        ("GET", "/queues/jobs/dead-letters/purge", "POST"),
    ] {
        let (status, head, body) = request(addr, method, path, &[bearer_header(ADMIN)]).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (405, Some("method_not_allowed")),
            "{method} {path}: {head}"
        );
        assert_eq!(
            header_value(&head, "allow").as_deref(),
            Some(allow),
            "{method} {path}"
        );
    }
    assert_eq!(
        raw(
            addr,
            b"HEAD /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .await,
        "HTTP/1.1 200 OK",
        "a GET route answers HEAD"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_never_cached_or_sniffed_and_a_change_from_another_site_is_refused() {
    let fx = Fixture::start(with_tokens()).await;
    let addr = fx.server.local_addr();
    for path in ["/config", "/ui/session", "/health/live", "/audit"] {
        let (_, head, _) = request(addr, "GET", path, &[bearer_header(VIEWER)]).await;
        assert_eq!(
            header_value(&head, "cache-control").as_deref(),
            Some("no-store"),
            "{path}: {head}"
        );
        assert_eq!(
            header_value(&head, "x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}: {head}"
        );
        assert_eq!(
            header_value(&head, "strict-transport-security"),
            None,
            "plain HTTP: {head}"
        );
    }
    // A page of another site posting here: refused before anything else, token or not.
    let (status, _, body) = request(
        addr,
        "POST",
        "/actions/stop",
        &[
            bearer_header(ADMIN),
            "Origin: http://evil.example".to_owned(),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("foreign_origin")),
        "{body}"
    );
    assert_eq!(fx.runtime.state(), RuntimeState::Running);
    // The console's own pages send their own origin: the host the request names (`x` here).
    let (status, _, body) = request(
        addr,
        "POST",
        "/actions/reload",
        &[bearer_header(ADMIN), "Origin: http://x".to_owned()],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_signing_in_again_and_again_signs_nobody_else_out() {
    let fx = Fixture::start(with_tokens()).await;
    let addr = fx.server.local_addr();
    let (_, head, _) = request(addr, "POST", "/ui/session", &[bearer_header(ADMIN)]).await;
    let admin = format!(
        "Cookie: {}",
        set_cookie(&head).unwrap().split(';').next().unwrap()
    );
    // Signing in again and again is stopped after ten a minute, each refusal saying when
    // to retry; the sessions a token name holds are capped too (32), oldest first.
    let mut signed_in = 0;
    loop {
        let (status, head, body) =
            request(addr, "POST", "/ui/session", &[bearer_header(VIEWER)]).await;
        if status == 429 {
            assert_eq!(body["error"]["code"], "too_many_sign_ins", "{body}");
            assert!(
                head.to_ascii_lowercase().contains("retry-after: "),
                "{head}"
            );
            break;
        }
        assert_eq!(status, 200, "{body}");
        signed_in += 1;
        assert!(signed_in <= 10, "an eleventh sign-in within the minute");
    }
    assert_eq!(signed_in, 10);
    let (status, _, who) = request(addr, "GET", "/ui/session", std::slice::from_ref(&admin)).await;
    assert_eq!((status, who["name"].as_str()), (200, Some("ops")), "{who}");
    // A second, different session cookie (planted by another application on the host)
    // makes the session ambiguous: none counts.
    let planted = format!("{admin}; plba_session=planted");
    let (status, _, _) = request(addr, "GET", "/ui/session", &[planted]).await;
    assert_eq!(status, 401);
}

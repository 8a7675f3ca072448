//! The webhook listener over real HTTP on loopback, inside a runtime: what a sender is
//! answered, and what reaches the queue (a task per accepted event, nothing for a refusal).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plba_contracts::{MetricValue, Registry, RegistryExt, TaskQueue};
use plba_core::{RuntimeManager, RuntimeOptions};
use plba_queue_memory::{MemoryQueue, MemoryQueueOptions, OverflowPolicy};
use plba_testkit::module::FnModule;
use plba_testkit::process::{HttpReply, http_send};
use plba_util::Unpoisoned;
use plba_webhook::{ROUTE_METADATA, WebhookConfig, WebhookSource, sign};

const SECRET: &str = "invoice-secret-0123456789";
const TOKEN: &str = "payment-token-0123456789";
const DEADLINE: Duration = Duration::from_secs(10);

struct Listening {
    runtime: RuntimeManager,
    queue: Arc<MemoryQueue>,
    addr: SocketAddr,
}

impl Listening {
    /// Starts the application and waits until it is ready, as a deployment's readiness probe
    /// would: the listener's workers run a moment after `start` returns.
    async fn start(&self) {
        self.runtime.start().await.unwrap();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let probe = self.runtime.readiness().await;
            if probe.ok {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not ready after {DEADLINE:?}: {probe:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn config(extra: &serde_json::Value) -> WebhookConfig {
    let mut config = serde_json::json!({
        "listen": "127.0.0.1:0",
        "max_body_bytes": 1024,
        "header_timeout_ms": 500,
        "publish_timeout_ms": 200,
        "routes": [
            {"path": "/hooks/invoices", "queue": "invoices", "task": "invoice",
             "auth": {"hmac": {"secret": SECRET}}, "idempotency_field": "invoice_id"},
            {"path": "/hooks/payments", "queue": "invoices", "task": "payment",
             "auth": {"bearer": {"token": TOKEN}}},
        ],
    });
    for (key, value) in extra.as_object().unwrap() {
        config[key] = value.clone();
    }
    serde_json::from_value(config).unwrap()
}

async fn listening(config: WebhookConfig, queue: MemoryQueueOptions) -> Listening {
    listening_checked(config, queue, |_: &[u8]| Ok(())).await
}

async fn listening_checked(
    config: WebhookConfig,
    queue: MemoryQueueOptions,
    check: fn(&[u8]) -> Result<(), String>,
) -> Listening {
    let queue = Arc::new(MemoryQueue::new("invoices", queue).unwrap());
    let addr = Arc::new(Mutex::new(None));
    let module = FnModule::new("billing", {
        let queue = Arc::clone(&queue);
        let addr = Arc::clone(&addr);
        move |registry: &mut dyn Registry| {
            registry.add_queue(queue.clone())?;
            let publisher = registry.publisher(queue.clone());
            let bound = WebhookSource::new(config.clone())
                .queue(publisher)
                .check_payload("invoice", check)
                .register(registry)?;
            *addr.lock_or_recover() = Some(bound);
            Ok(())
        }
    });
    let runtime = RuntimeManager::new(RuntimeOptions::default());
    runtime.register(&module).await.unwrap();
    let addr = addr.lock_or_recover().unwrap();
    Listening {
        runtime,
        queue,
        addr,
    }
}

async fn send(
    addr: SocketAddr,
    path: &str,
    headers: Vec<(String, String)>,
    body: &str,
) -> HttpReply {
    let path = path.to_owned();
    let body = body.as_bytes().to_vec();
    tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        http_send(addr, "POST", &path, &headers, &body).unwrap()
    })
    .await
    .unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn signed(body: &str, at: u64) -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "application/json".into()),
        (
            "Webhook-Signature".into(),
            sign(SECRET.as_bytes(), at, body.as_bytes()),
        ),
    ]
}

fn json(reply: &HttpReply) -> serde_json::Value {
    serde_json::from_str(&reply.body).unwrap_or_else(|_| panic!("not JSON: {reply:?}"))
}

async fn published(queue: &MemoryQueue) -> u64 {
    queue.stats().await.unwrap().published
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_becomes_one_task_and_its_retry_a_duplicate() {
    let l = listening(
        config(&serde_json::json!({})),
        MemoryQueueOptions::default(),
    )
    .await;
    l.start().await;
    let body = r#"{"invoice_id":"INV-7","amount":"120.00"}"#;

    let first = send(l.addr, "/hooks/invoices", signed(body, now()), body).await;
    assert_eq!(first.status, 202, "{first:?}");
    let task_id = json(&first)["task_id"].as_str().unwrap().to_owned();
    // The sender retries (a lost answer): the same event, signed again later.
    let again = send(l.addr, "/hooks/invoices", signed(body, now()), body).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(json(&again)["task_id"], task_id.as_str());
    assert_eq!(json(&again)["duplicate"], true);
    // A captured request replayed with another Idempotency-Key header: the signed field
    // wins over the unsigned header, so it is still a duplicate.
    let mut keyed = signed(body, now());
    keyed.push(("Idempotency-Key".into(), "another-delivery".into()));
    let replayed = send(l.addr, "/hooks/invoices", keyed, body).await;
    assert_eq!(replayed.status, 200, "{replayed:?}");
    // On a route without a field, the header tells deliveries apart.
    let paid = r#"{"invoice_id":"INV-7"}"#;
    let keyed = |key: &str| {
        vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("Authorization".to_owned(), format!("Bearer {TOKEN}")),
            ("Idempotency-Key".to_owned(), key.to_owned()),
        ]
    };
    assert_eq!(
        send(l.addr, "/hooks/payments", keyed("pay-1"), paid)
            .await
            .status,
        202
    );
    assert_eq!(
        send(l.addr, "/hooks/payments", keyed("pay-1"), paid)
            .await
            .status,
        200
    );

    assert_eq!(published(&l.queue).await, 2);
    let delivery = l.queue.consume().await.unwrap();
    assert_eq!(delivery.task().id.to_string(), task_id);
    assert_eq!(delivery.task().name, "invoice");
    assert_eq!(&delivery.task().payload[..], body.as_bytes());
    assert_eq!(
        delivery.task().metadata.get(ROUTE_METADATA),
        Some("/hooks/invoices")
    );
    l.runtime.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_their_reason_and_publish_nothing() {
    let l = listening(
        config(&serde_json::json!({})),
        MemoryQueueOptions::default(),
    )
    .await;
    l.start().await;
    let body = r#"{"invoice_id":"INV-8"}"#;
    let path = "/hooks/invoices";
    let json_type = || vec![("Content-Type".to_owned(), "application/json".to_owned())];

    let unsigned = send(l.addr, path, json_type(), body).await;
    assert_eq!(unsigned.status, 401, "{unsigned:?}");
    let mut forged = json_type();
    forged.push((
        "Webhook-Signature".into(),
        sign(b"not-the-secret-at-all", now(), body.as_bytes()),
    ));
    assert_eq!(send(l.addr, path, forged, body).await.status, 401);
    let tampered = r#"{"invoice_id":"INV-9"}"#;
    assert_eq!(
        send(l.addr, path, signed(body, now()), tampered)
            .await
            .status,
        401
    );
    // A request captured and replayed ten minutes later: outside the 300 s tolerance.
    let replayed = send(l.addr, path, signed(body, now() - 600), body).await;
    assert_eq!(replayed.status, 401);
    assert!(
        json(&replayed)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more than the 300 s allowed")
    );

    let mut text = signed(body, now());
    text[0].1 = "text/plain".into();
    assert_eq!(send(l.addr, path, text, body).await.status, 415);
    let broken = r#"{"invoice_id":"#;
    assert_eq!(
        send(l.addr, path, signed(broken, now()), broken)
            .await
            .status,
        400
    );
    let keyless = r#"{"amount":"1.00"}"#;
    let reply = send(l.addr, path, signed(keyless, now()), keyless).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("invoice_id"), "{reply:?}");
    let big = format!(r#"{{"invoice_id":"{}"}}"#, "x".repeat(2000));
    assert_eq!(
        send(l.addr, path, signed(&big, now()), &big).await.status,
        413
    );
    assert_eq!(
        send(l.addr, "/hooks/other", signed(body, now()), body)
            .await
            .status,
        404
    );
    let get = tokio::task::spawn_blocking(move || {
        plba_testkit::process::http_request(l.addr, "GET", "/hooks/invoices", &[]).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(get.status, 405);
    assert_eq!(get.header("allow"), Some("POST"));

    // Bearer route: the wrong token is refused, the right one accepted.
    let bearer = |token: &str| {
        vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("Authorization".to_owned(), format!("Bearer {token}")),
        ]
    };
    let paid = r#"{"invoice_id":"INV-8"}"#;
    let wrong = send(
        l.addr,
        "/hooks/payments",
        bearer("payment-token-wrong-one"),
        paid,
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(published(&l.queue).await, 0, "a refused request published");
    assert_eq!(
        send(l.addr, "/hooks/payments", bearer(TOKEN), paid)
            .await
            .status,
        202
    );
    assert_eq!(published(&l.queue).await, 1);

    let counted = |name: &str, labels: &[(&str, &str)]| -> u64 {
        let families = l
            .runtime
            .metrics_sources()
            .iter()
            .flat_map(|s| s.collect())
            .collect::<Vec<_>>();
        families
            .iter()
            .filter(|f| f.name == name)
            .flat_map(|f| &f.samples)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|s| match s.value {
                MetricValue::Counter(n) => n,
                _ => 0,
            })
            .sum()
    };
    let refused = "plba_webhook_requests_refused_total";
    assert_eq!(
        counted(refused, &[("route", path), ("reason", "unauthorized")]),
        4
    );
    assert_eq!(
        counted(refused, &[("route", path), ("reason", "too_large")]),
        1
    );
    assert_eq!(
        counted(refused, &[("route", path), ("reason", "bad_request")]),
        2
    );
    assert_eq!(
        counted(refused, &[("route", ""), ("reason", "not_found")]),
        1
    );
    assert_eq!(
        counted(
            "plba_webhook_requests_accepted_total",
            &[("route", "/hooks/payments")]
        ),
        1
    );
    assert_eq!(counted("plba_webhook_requests_received_total", &[]), 12);
    l.runtime.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_refused_before_it_is_read() {
    let l = listening(
        config(&serde_json::json!({})),
        MemoryQueueOptions::default(),
    )
    .await;
    l.start().await;
    let addr = l.addr;
    // Only the head, announcing 10 MB: the answer comes without a byte of the body.
    let reply = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        write!(
            stream,
            "POST /hooks/invoices HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    })
    .await
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert_eq!(published(&l.queue).await, 0);
    l.runtime.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_or_a_stopped_application_asks_the_sender_to_retry_later() {
    let options = MemoryQueueOptions {
        capacity: 1,
        overflow: OverflowPolicy::Reject,
        ..MemoryQueueOptions::default()
    };
    let l = listening(config(&serde_json::json!({})), options).await;
    let body = |n: u32| format!(r#"{{"invoice_id":"INV-{n}"}}"#);

    // Registered, not yet running: 503.
    let early = send(l.addr, "/hooks/invoices", signed(&body(1), now()), &body(1)).await;
    assert_eq!(early.status, 503, "{early:?}");
    assert_eq!(early.header("retry-after"), Some("5"));
    let health = format!("{:?}", l.runtime.health().await);
    assert!(health.contains("are answered 503"), "{health}");

    l.start().await;
    assert_eq!(
        send(l.addr, "/hooks/invoices", signed(&body(1), now()), &body(1))
            .await
            .status,
        202
    );
    let full = send(l.addr, "/hooks/invoices", signed(&body(2), now()), &body(2)).await;
    assert_eq!(full.status, 429, "{full:?}");
    assert_eq!(full.header("retry-after"), Some("5"));
    let health = l.runtime.health().await;
    assert!(format!("{health:?}").contains("Degraded"), "{health:?}");

    l.runtime.stop().await;
    let stopped = send(l.addr, "/hooks/invoices", signed(&body(3), now()), &body(3)).await;
    assert_eq!(stopped.status, 503);
    assert_eq!(published(&l.queue).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_and_the_cap_turns_newcomers_away() {
    let l = listening(
        config(&serde_json::json!({"max_connections": 2, "header_timeout_ms": 3000})),
        MemoryQueueOptions::default(),
    )
    .await;
    l.start().await;
    let addr = l.addr;
    tokio::task::spawn_blocking(move || {
        let silent: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
        // Both slots are held by connections that send nothing: a third is turned away.
        let mut third = TcpStream::connect(addr).unwrap();
        third.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut answer = String::new();
        let _ = third.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        // The header timeout (3 s) closes the silent ones.
        for mut stream in silent {
            stream.set_read_timeout(Some(DEADLINE)).unwrap();
            let mut rest = Vec::new();
            let read = stream.read_to_end(&mut rest);
            assert!(read.is_ok(), "not closed by the header timeout: {read:?}");
        }
    })
    .await
    .unwrap();
    l.runtime.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_the_application_refuses_is_answered_422_and_not_published() {
    let check = |body: &[u8]| {
        if body.windows(6).any(|w| w == b"amount") {
            Ok(())
        } else {
            Err("amount: is missing".to_owned())
        }
    };
    let l = listening_checked(
        config(&serde_json::json!({})),
        MemoryQueueOptions::default(),
        check,
    )
    .await;
    l.start().await;
    let bad = r#"{"invoice_id":"INV-9"}"#;
    let refused = send(l.addr, "/hooks/invoices", signed(bad, now()), bad).await;
    assert_eq!(refused.status, 422, "{refused:?}");
    assert!(refused.body.contains("amount: is missing"), "{refused:?}");
    // Corrected, the same invoice is accepted: the refusal took no idempotency key.
    let good = r#"{"invoice_id":"INV-9","amount":"1.00"}"#;
    assert_eq!(
        send(l.addr, "/hooks/invoices", signed(good, now()), good)
            .await
            .status,
        202
    );
    assert_eq!(published(&l.queue).await, 1);
    l.runtime.stop().await;
}

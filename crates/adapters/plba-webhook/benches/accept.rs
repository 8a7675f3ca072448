//! Accepted webhook requests per second: the webhook source (a running runtime, a memory
//! queue drained by a pool) against a bare hyper handler that reads the body, parses it as
//! JSON and answers 202, measured in the same run with the same load generator and the same
//! signed requests.
//!
//! `cargo bench -p plba-webhook --bench accept` (env: `PLBA_BENCH_SECONDS` per run, default
//! 3; `PLBA_BENCH_RUNS`, default 5; `PLBA_BENCH_CONNECTIONS`, default 16). Prints a Markdown
//! table of medians.

#![allow(clippy::print_stdout)] // a bench binary's job is to print its table

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use plba_contracts::{Registry, RegistryExt, Task, TaskError, TaskHandler, async_trait};
use plba_core::{RuntimeManager, RuntimeOptions};
use plba_queue_memory::MemoryQueue;
use plba_testkit::bench::{env_u64, median, table_row};
use plba_testkit::module::FnModule;
use plba_util::Unpoisoned;
use plba_webhook::{WebhookConfig, WebhookSource, sign};
use plba_workers::QueueWorkerPool;
use tokio::net::{TcpListener, TcpStream};

/// The allocator the launchers ship (`plba::Allocator`): measured as deployed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "bench-secret-0123456789";
const TOKEN: &str = "bench-token-0123456789";

/// The floor: read the body, check it is JSON, answer 202 with a small JSON body.
async fn bare_hyper() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|request: Request<hyper::body::Incoming>| async {
                        let body = request.into_body().collect().await.map(|b| b.to_bytes());
                        let json = body
                            .ok()
                            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
                        let mut answer = Response::new(Full::new(Bytes::from_static(
                            br#"{"task_id":"01a24ece5ce939c09611000000000000","duplicate":false}"#,
                        )));
                        *answer.status_mut() = if json.is_some() {
                            StatusCode::ACCEPTED
                        } else {
                            StatusCode::BAD_REQUEST
                        };
                        Ok::<_, Infallible>(answer)
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

struct Discard;

#[async_trait]
impl TaskHandler for Discard {
    async fn handle(&self, _task: &Task) -> Result<(), TaskError> {
        Ok(())
    }
}

/// The webhook source of a running runtime: a signed route with an idempotency field and a
/// bearer route, onto a memory queue a pool of two drains.
async fn webhook_source() -> anyhow::Result<(SocketAddr, RuntimeManager)> {
    let config: WebhookConfig = serde_json::from_value(serde_json::json!({
        "listen": "127.0.0.1:0",
        "max_connections": 1024,
        "routes": [
            {"path": "/hmac", "queue": "events", "task": "event",
             "auth": {"hmac": {"secret": SECRET}}, "idempotency_field": "id"},
            {"path": "/bearer", "queue": "events", "task": "event",
             "auth": {"bearer": {"token": TOKEN}}},
        ],
    }))?;
    let addr = Arc::new(Mutex::new(None));
    let module = FnModule::new("bench", {
        let addr = Arc::clone(&addr);
        move |registry: &mut dyn Registry| {
            let queue = Arc::new(MemoryQueue::named("events"));
            QueueWorkerPool::new("drain", queue.clone(), Arc::new(Discard))
                .concurrency(2)
                .register(registry)?;
            let bound = WebhookSource::new(config.clone())
                .queue(registry.publisher(queue))
                .register(registry)?;
            *addr.lock_or_recover() = Some(bound);
            Ok(())
        }
    });
    let runtime = RuntimeManager::new(RuntimeOptions::default());
    runtime.register(&module).await?;
    runtime.start().await?;
    let addr = addr
        .lock_or_recover()
        .ok_or_else(|| anyhow::anyhow!("not bound"))?;
    Ok((addr, runtime))
}

#[derive(Clone, Copy)]
enum Auth {
    Hmac,
    Bearer,
}

/// `connections` keep-alive connections each POSTing a fresh signed event back to back for
/// `duration`; every answer must be 202.
async fn load(
    addr: SocketAddr,
    path: &'static str,
    auth: Auth,
    connections: usize,
    duration: Duration,
    ids: Arc<AtomicU64>,
) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let mut clients = Vec::new();
    for _ in 0..connections {
        let done = Arc::clone(&done);
        let ids = Arc::clone(&ids);
        clients.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            while Instant::now() < deadline {
                let id = ids.fetch_add(1, Ordering::Relaxed);
                let body = format!(
                    r#"{{"id":"evt_{id}","invoice_id":"INV-{id}","amount":"120.00","customer":"ACME"}}"#
                );
                let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
                let (name, value) = match auth {
                    Auth::Hmac => ("webhook-signature", sign(SECRET.as_bytes(), now, body.as_bytes())),
                    Auth::Bearer => ("authorization", format!("Bearer {TOKEN}")),
                };
                let request = Request::post(path)
                    .header("host", "bench")
                    .header("content-type", "application/json")
                    .header(name, value)
                    .body(Full::new(Bytes::from(body)))?;
                let response = sender.send_request(request).await?;
                anyhow::ensure!(
                    response.status() == 202,
                    "{path} answered {}",
                    response.status()
                );
                response.into_body().collect().await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    let started = Instant::now();
    for client in clients {
        client.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    let seconds = env_u64("PLBA_BENCH_SECONDS", 3)?;
    let runs = env_u64("PLBA_BENCH_RUNS", 5)?.max(1);
    let connections = usize::try_from(env_u64("PLBA_BENCH_CONNECTIONS", 16)?)?;
    let duration = Duration::from_secs(seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ids = Arc::new(AtomicU64::new(0));
    let (bare, hmac, bearer) = runtime.block_on(async {
        let bare_addr = bare_hyper().await?;
        let (webhook_addr, _runtime) = webhook_source().await?;
        let warm = Duration::from_millis(500);
        let ids = || Arc::clone(&ids);
        load(bare_addr, "/", Auth::Hmac, connections, warm, ids()).await?;
        load(webhook_addr, "/hmac", Auth::Hmac, connections, warm, ids()).await?;
        let (mut bare, mut hmac, mut bearer) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            bare.push(load(bare_addr, "/", Auth::Hmac, connections, duration, ids()).await?);
            hmac.push(
                load(
                    webhook_addr,
                    "/hmac",
                    Auth::Hmac,
                    connections,
                    duration,
                    ids(),
                )
                .await?,
            );
            bearer.push(
                load(
                    webhook_addr,
                    "/bearer",
                    Auth::Bearer,
                    connections,
                    duration,
                    ids(),
                )
                .await?,
            );
        }
        anyhow::Ok((bare, hmac, bearer))
    })?;
    let bare_median = median(&bare);
    println!(
        "runs: {runs} × {seconds} s, keep-alive connections: {connections}, tokio worker threads: 2 (servers, queue consumers and load generator share them)"
    );
    println!();
    println!("| server | median accepted requests/s | min | max | vs bare hyper |");
    println!("|---|---:|---:|---:|---:|");
    for (name, values) in [
        ("bare hyper: read body, parse JSON, 202", &bare),
        (
            "webhook source, HMAC route with idempotency field → memory queue",
            &hmac,
        ),
        ("webhook source, bearer route → memory queue", &bearer),
    ] {
        println!("{}", table_row(name, values, bare_median));
    }
    Ok(())
}

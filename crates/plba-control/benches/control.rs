//! Requests per second of `GET /health/ready` on the control plane, against a bare hyper
//! hello-world server measured in the same run with the same load generator.
//!
//! `cargo bench -p plba-control --bench control` (env: `PLBA_BENCH_SECONDS` per run,
//! default 3; `PLBA_BENCH_RUNS`, default 5; `PLBA_BENCH_CONNECTIONS`, default 16).
//! Prints a Markdown table of medians.

#![allow(clippy::print_stdout)] // a bench binary's job is to print its table

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use plba_config::ControlConfig;
use plba_contracts::{
    ApplicationModule, HealthContributor, HealthOptions, HealthReport, Registry, RegistryError,
    async_trait,
};
use plba_control::{ControlPlaneService, ControlServer};
use plba_core::{RuntimeManager, RuntimeOptions};
use plba_testkit::bench::{env_u64, median, table_row};
use tokio::net::{TcpListener, TcpStream};

/// A hello-world server: the floor any HTTP endpoint on hyper stands on.
async fn bare_hyper() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|_request: Request<hyper::body::Incoming>| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                            b"{\"status\":\"ready\"}",
                        ))))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

struct Database;

#[async_trait]
impl HealthContributor for Database {
    async fn check(&self) -> HealthReport {
        HealthReport::ok()
    }
}

struct App;

#[async_trait]
impl ApplicationModule for App {
    fn name(&self) -> &str {
        "app"
    }

    async fn register(&self, registry: &mut dyn Registry) -> Result<(), RegistryError> {
        registry.add_health_contributor("database", Arc::new(Database), HealthOptions::critical())
    }
}

/// The control plane of a running runtime with one critical health contributor.
async fn control_plane() -> anyhow::Result<(SocketAddr, ControlServer)> {
    let runtime = RuntimeManager::new(RuntimeOptions::default());
    runtime.register(&App).await?;
    runtime.start().await?;
    let config = ControlConfig {
        bind: "127.0.0.1:0".into(),
        ..ControlConfig::default()
    };
    let server = ControlServer::start(Arc::new(ControlPlaneService::new(runtime, config))).await?;
    Ok((server.local_addr(), server))
}

/// `connections` keep-alive connections each sending `GET path` back to back for `duration`.
async fn load(
    addr: SocketAddr,
    path: &'static str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let mut clients = Vec::new();
    for _ in 0..connections {
        let done = Arc::clone(&done);
        clients.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            while Instant::now() < deadline {
                let request = Request::get(path)
                    .header("host", "bench")
                    .body(Empty::<Bytes>::new())?;
                let response = sender.send_request(request).await?;
                anyhow::ensure!(
                    response.status() == 200,
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
    let (bare, control) = runtime.block_on(async {
        let bare_addr = bare_hyper().await?;
        let (control_addr, _server) = control_plane().await?;
        load(bare_addr, "/", connections, Duration::from_millis(500)).await?;
        load(
            control_addr,
            "/health/ready",
            connections,
            Duration::from_millis(500),
        )
        .await?;
        let (mut bare, mut control) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            bare.push(load(bare_addr, "/", connections, duration).await?);
            control.push(load(control_addr, "/health/ready", connections, duration).await?);
        }
        anyhow::Ok((bare, control))
    })?;
    let bare_median = median(&bare);
    println!(
        "runs: {runs} × {seconds} s, keep-alive connections: {connections}, tokio worker threads: 2 (server and load generator share them)"
    );
    println!();
    println!("| endpoint | median requests/s | min | max | vs bare hyper |");
    println!("|---|---:|---:|---:|---:|");
    for (name, values) in [
        ("bare hyper hello-world", &bare),
        ("control plane GET /health/ready", &control),
    ] {
        println!("{}", table_row(name, values, bare_median));
    }
    Ok(())
}

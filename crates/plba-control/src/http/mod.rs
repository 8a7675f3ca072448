//! The HTTP/1.1 channel of the control plane: the accept loop, the connection cap with its
//! probe slots, header and body timeouts and TLS are owned here, on hyper; each request is
//! then routed by an axum router whose handlers are grouped by resource.

mod account;
mod config;
mod dead_letters;
mod extract;
mod probes;
mod response;
mod routes;
mod runtime;
mod sessions;
mod single_sign_on;
mod traces;
mod ui;
mod users;
mod views;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, Response, Uri};
use axum::response::IntoResponse;
use futures_util::FutureExt;
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use plba_contracts::CancellationToken;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

use crate::api_error::ApiError;
use crate::connections::Slot;
use crate::error::ControlError;
use crate::service::ControlPlaneService;
use extract::{BodyDrained, ClientAddr};
use response::closing;

/// A running control-plane HTTP server.
///
/// ```no_run
/// # async fn example(runtime: plba_core::RuntimeManager) -> Result<(), plba_control::ControlError> {
/// use std::sync::Arc;
/// use plba_control::{ControlPlaneService, ControlServer};
///
/// let config = plba_config::ControlConfig::default();
/// let service = Arc::new(ControlPlaneService::new(runtime, config));
/// let server = ControlServer::start(service).await?;
/// println!("control plane on http://{}", server.local_addr());
/// server.stop().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ControlServer {
    addr: SocketAddr,
    cancel: CancellationToken,
    accept: JoinHandle<()>,
}

impl ControlServer {
    /// Binds `service.config().bind` and serves until [`stop`](Self::stop).
    pub async fn start(service: Arc<ControlPlaneService>) -> Result<Self, ControlError> {
        let address = service.config().bind.clone();
        let parsed: SocketAddr = address.parse().map_err(|source| ControlError::Address {
            address: address.clone(),
            source,
        })?;
        let listener = TcpListener::bind(parsed)
            .await
            .map_err(|source| ControlError::Bind { address, source })?;
        let addr = listener.local_addr().map_err(|source| ControlError::Bind {
            address: parsed.to_string(),
            source,
        })?;
        let acceptor = acceptor_for(service.config())?.map(Arc::new);
        let cancel = CancellationToken::new();
        tokio::spawn(summarise_refusals(Arc::clone(&service), cancel.clone()));
        let accept = tokio::spawn(accept_loop(listener, service, acceptor, cancel.clone()));
        tracing::info!(%addr, "control plane listening");
        Ok(Self {
            addr,
            cancel,
            accept,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections; connections in progress finish their current request.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.accept.await;
    }
}

/// What accepts TLS connections: rustls with the `tls` feature; without it there is none.
#[cfg(feature = "tls")]
type Acceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
type Acceptor = std::convert::Infallible;

#[cfg(feature = "tls")]
fn acceptor_for(config: &plba_config::ControlConfig) -> Result<Option<Acceptor>, ControlError> {
    config.tls.as_ref().map(crate::tls::acceptor).transpose()
}

#[cfg(not(feature = "tls"))]
fn acceptor_for(config: &plba_config::ControlConfig) -> Result<Option<Acceptor>, ControlError> {
    match config.tls {
        None => Ok(None),
        Some(_) => Err(ControlError::Tls {
            what: "is configured (platform.control.tls) but this build has no TLS: the `tls` feature of plba-control (`control-tls` of plba) is off".to_owned(),
            source: None,
        }),
    }
}

async fn accept_loop(
    listener: TcpListener,
    service: Arc<ControlPlaneService>,
    acceptor: Option<Arc<Acceptor>>,
    cancel: CancellationToken,
) {
    // The header timeout also bounds a kept-alive connection's wait for its next request
    // (hyper restarts it whenever the connection goes idle), so no connection holds its slot
    // for longer without a request in progress.
    let header_timeout = Duration::from_millis(service.config().header_timeout_ms);
    let limiter = Arc::clone(service.connections());
    let router = table().into_router(Arc::clone(&service));
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, client) = match accepted {
            Ok((stream, peer)) => (stream, peer.ip()),
            Err(error) => {
                // Out of file descriptors and the like: back off briefly instead of spinning.
                tracing::warn!(%error, "control plane accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = limiter.admit() else {
            // Over TLS a plain-text answer would be garbage: just close.
            if acceptor.is_none() {
                refuse(&stream);
            }
            continue;
        };
        let evicted = slot.evicted();
        let slot = Arc::new(slot);
        let router = router.clone();
        let tls = acceptor.is_some();
        let cancel = cancel.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // The slot lives as long as the connection: the handler owns it.
            let handler = hyper::service::service_fn(move |request| {
                let router = router.clone();
                let slot = Arc::clone(&slot);
                async move {
                    let response = respond(router, &slot, request, client).await;
                    Ok::<_, Infallible>(response::secured(response, tls))
                }
            });
            match acceptor {
                #[cfg(not(feature = "tls"))]
                Some(never) => match Arc::unwrap_or_clone(never) {},
                None => {
                    serve(
                        TokioIo::new(stream),
                        handler,
                        header_timeout,
                        evicted,
                        cancel,
                    )
                    .await;
                }
                #[cfg(feature = "tls")]
                Some(acceptor) => {
                    // The handshake counts against the header timeout, as the headers would.
                    let handshake = tokio::time::timeout(header_timeout, acceptor.accept(stream));
                    let tls = tokio::select! {
                        tls = handshake => tls,
                        () = evicted.cancelled() => return,
                        () = cancel.cancelled() => return,
                    };
                    match tls {
                        Ok(Ok(tls)) => {
                            serve(TokioIo::new(tls), handler, header_timeout, evicted, cancel)
                                .await;
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(%error, "control plane TLS handshake failed");
                        }
                        Err(_) => tracing::debug!("control plane TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// Serves one connection's requests until it ends, is evicted to make room, or the server
/// stops (then the request in progress finishes).
async fn serve<I, S>(
    io: I,
    handler: S,
    header_timeout: Duration,
    evicted: CancellationToken,
    cancel: CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = Body>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(io, handler);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        // Closed to make room: it had no request in progress, so dropping it loses
        // nothing and frees its descriptor at once.
        () = evicted.cancelled() => {}
        () = cancel.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Turns away a connection when every connection under the cap has a request in progress:
/// a 503 if the socket takes it without waiting, then the connection is closed, so a refused
/// connection never holds a descriptor.
fn refuse(stream: &TcpStream) {
    const BODY: &str = r#"{"error":{"code":"overloaded","message":"the control plane is at its connection cap; retry shortly"}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    // Best effort: a full socket buffer just means the client sees the connection close.
    let _ = stream.try_write(answer.as_bytes());
}

/// Every route, each resource adding its own.
fn table() -> routes::RouteTable {
    let table = routes::RouteTable::default();
    let table = probes::routes(table);
    let table = runtime::routes(table);
    let table = config::routes(table);
    let table = traces::routes(table);
    let table = dead_letters::routes(table);
    let table = views::routes(table);
    let table = sessions::routes(table);
    let table = users::routes(table);
    let table = account::routes(table);
    let table = single_sign_on::routes(table);
    ui::routes(table)
}

/// Ends each interval of the refusal log with its summary, until the server stops.
async fn summarise_refusals(service: Arc<ControlPlaneService>, cancel: CancellationToken) {
    let mut ticks = tokio::time::interval(crate::service::SUMMARY_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticks.tick() => service.flush_refusals(),
        }
    }
}

/// Handles one request from `client`; never panics (a panic inside a handler becomes a 500).
async fn respond(
    router: Router,
    slot: &Slot,
    request: Request<Incoming>,
    client: IpAddr,
) -> Response<Body> {
    let mut request = request.map(Body::new);
    request.extensions_mut().insert(ClientAddr(client));
    if let Some(uri) = without_trailing_slash(request.uri()) {
        *request.uri_mut() = uri;
    }
    let probe = matches!(*request.method(), Method::GET | Method::HEAD)
        && matches!(request.uri().path(), "/health/live" | "/health/ready");
    let Some(_in_progress) = slot.begin(probe) else {
        // Only the probes' reserve is left: answer at once and close, freeing the slot.
        return ApiError::Overloaded.into_response();
    };
    let announced = !request.body().is_end_stream();
    let response = match AssertUnwindSafe(router.oneshot(request))
        .catch_unwind()
        .await
    {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => {
            tracing::error!("control plane request handler panicked");
            ApiError::Internal("the request could not be handled".to_owned()).into_response()
        }
    };
    if announced && response.extensions().get::<BodyDrained>().is_none() {
        // The rest of the body is not read: say the connection ends with this answer.
        closing(response)
    } else {
        response
    }
}

/// `uri` without the trailing slashes of its path (`/status/` is `/status`), or `None` when
/// it has none.
fn without_trailing_slash(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let trimmed = path.trim_end_matches('/');
    if trimmed.len() == path.len() || trimmed.is_empty() {
        return None;
    }
    let path_and_query = match uri.query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_owned(),
    };
    path_and_query.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slashes_are_dropped_and_the_query_kept() {
        let uri: Uri = "/status/?a=1".parse().unwrap();
        assert_eq!(without_trailing_slash(&uri).unwrap(), "/status?a=1");
        assert!(without_trailing_slash(&"/status".parse().unwrap()).is_none());
        assert!(without_trailing_slash(&"/".parse().unwrap()).is_none());
    }
}

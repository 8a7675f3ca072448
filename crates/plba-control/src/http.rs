//! The HTTP/1.1 channel of the control plane, on hyper.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{
    ALLOW, AUTHORIZATION, CONNECTION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, HeaderValue,
    RETRY_AFTER, SET_COOKIE, WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use plba_contracts::CancellationToken;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::connections::Slot;
use crate::error::ControlError;
use crate::service::{Action, ControlPlaneService, Credentials, Reply, ReplyBody};

/// Default and largest `limit` of `/traces`.
const TRACES_DEFAULT: usize = 50;
const TRACES_MAX: usize = 1_000;

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
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
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
        let service = Arc::clone(&service);
        let cancel = cancel.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // The slot lives as long as the connection: the handler owns it.
            let handler = hyper::service::service_fn(move |request| {
                let service = Arc::clone(&service);
                let slot = Arc::clone(&slot);
                async move { Ok::<_, Infallible>(respond(&service, &slot, request).await) }
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
    S: hyper::service::HttpService<Incoming, ResBody = Full<Bytes>>,
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

/// Handles one request; never panics (a panic inside an action becomes a 500).
async fn respond(
    service: &ControlPlaneService,
    slot: &Slot,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let probe = route(
        request.method(),
        request.uri().path(),
        request.uri().query(),
    )
    .is_ok_and(|action| action.is_probe());
    let Some(_in_progress) = slot.begin(probe) else {
        // Only the probes' reserve is left: answer at once and close, freeing the slot.
        let mut response = to_response(Reply::error(
            503,
            "overloaded",
            "the control plane is at its connection cap; retry shortly",
        ));
        let headers = response.headers_mut();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        return response;
    };
    let (reply, body_unread) = match AssertUnwindSafe(handle(service, request))
        .catch_unwind()
        .await
    {
        Ok(handled) => handled,
        Err(_) => {
            tracing::error!("control plane request handler panicked");
            (
                Reply::error(500, "internal", "the request could not be handled"),
                false,
            )
        }
    };
    let mut response = to_response(reply);
    if body_unread {
        // The rest of the body is not read: say the connection ends with this answer.
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The reply, and whether the request's body was left (partly) unread.
async fn handle(service: &ControlPlaneService, request: Request<Incoming>) -> (Reply, bool) {
    let (parts, body) = request.into_parts();
    let announced = !body.is_end_stream();
    let action = match route(&parts.method, parts.uri.path(), parts.uri.query()) {
        Ok(action) => action,
        Err(reply) => return (reply, announced),
    };
    // The token is in the headers: check it before spending any time on the body, so an
    // unauthorised client cannot hold a connection by sending its body slowly.
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let credentials = Credentials {
        authorization: header(AUTHORIZATION.as_str()),
        cookie: header(COOKIE.as_str()),
        csrf: header(crate::sessions::CSRF_HEADER),
    };
    let caller = match service.authenticate(&action, credentials) {
        Ok(caller) => caller,
        Err(denied) => return (denied, announced),
    };
    if parts.method == Method::POST {
        let config = service.config();
        let limit = config.max_body_bytes;
        let too_large = || {
            Reply::error(
                413,
                "payload_too_large",
                format!("the body is over {limit} bytes"),
            )
        };
        // A declared length over the limit is refused before a byte of the body is read.
        if body.size_hint().lower() > u64::try_from(limit).unwrap_or(u64::MAX) {
            return (too_large(), true);
        }
        let timeout = Duration::from_millis(config.body_timeout_ms.min(config.request_timeout_ms));
        let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await;
        let bytes = match collected {
            Err(_) => {
                return (
                    Reply::error(408, "request_timeout", "the request body took too long"),
                    true,
                );
            }
            Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
                return (too_large(), true);
            }
            Ok(Err(error)) => {
                return (
                    Reply::error(400, "bad_request", format!("cannot read the body: {error}")),
                    true,
                );
            }
            Ok(Ok(collected)) => collected.to_bytes(),
        };
        if !bytes.iter().all(u8::is_ascii_whitespace)
            && let Err(error) = serde_json::from_slice::<serde_json::Value>(&bytes)
        {
            return (
                Reply::error(
                    400,
                    "invalid_json",
                    format!("the body is not JSON: {error}"),
                ),
                false,
            );
        }
    }
    (
        service.perform_as(&action, &caller, credentials).await,
        false,
    )
}

fn route(method: &Method, path: &str, query: Option<&str>) -> Result<Action, Reply> {
    let path = path.trim_end_matches('/');
    let (allowed, action) = match path {
        "/health/live" => (Method::GET, Action::Live),
        "/health/ready" => (Method::GET, Action::Ready),
        "/health" => (Method::GET, Action::Health),
        "/status" => (Method::GET, Action::Status),
        "/metrics" => (Method::GET, Action::Metrics),
        "/traces" => (
            Method::GET,
            Action::Traces {
                limit: traces_limit(query)?,
            },
        ),
        "/actions/stop" => (Method::POST, Action::Stop),
        "/actions/start" => (Method::POST, Action::Start),
        "/actions/reload" => (Method::POST, Action::Reload),
        "/actions/shutdown" => (Method::POST, Action::Shutdown),
        "/config" => (Method::GET, Action::Config),
        "/views" => (Method::GET, Action::Views),
        "/ui" => (Method::GET, crate::ui::asset("index.html")),
        "/ui/app.js" => (Method::GET, crate::ui::asset("app.js")),
        "/ui/app.css" => (Method::GET, crate::ui::asset("app.css")),
        "/audit" => (Method::GET, Action::Audit),
        "/ui/session" if *method == Method::POST => (Method::POST, Action::SignIn),
        "/ui/session" => (Method::GET, Action::SessionInfo),
        "/ui/session/end" => (Method::POST, Action::SignOut),
        "/actions/log-level" => (
            Method::POST,
            Action::SetLogLevel {
                level: query
                    .unwrap_or_default()
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("level="))
                    .filter(|level| !level.is_empty())
                    .ok_or_else(|| {
                        Reply::error(400, "bad_request", "give the level as ?level=debug")
                    })?
                    .to_owned(),
            },
        ),
        other => match other.strip_prefix("/traces/") {
            Some(id) if !id.is_empty() && !id.contains('/') => {
                (Method::GET, Action::Trace { id: id.to_owned() })
            }
            _ if other.starts_with("/queues/") => queue_route(other, query)?,
            _ if other.starts_with("/views/") => view_route(other, query)?,
            _ => {
                return Err(Reply::error(
                    404,
                    "not_found",
                    format!("no endpoint {path:?}"),
                ));
            }
        },
    };
    if method == allowed || (method == Method::HEAD && allowed == Method::GET) {
        Ok(action)
    } else {
        Err(Reply::error(
            405,
            "method_not_allowed",
            format!("{path} accepts {allowed} only"),
        ))
    }
}

/// `/views/{view}?q=…&limit=…` (rows) and `/views/{view}/{id}` (one item), both GET.
fn view_route(path: &str, query: Option<&str>) -> Result<(Method, Action), Reply> {
    let rest = path.strip_prefix("/views/").unwrap_or_default();
    let mut parts = rest.splitn(2, '/');
    let view = parts.next().unwrap_or_default().to_owned();
    match parts.next() {
        None if !view.is_empty() => Ok((
            Method::GET,
            Action::ViewList {
                view,
                search: query_param(query, "q").unwrap_or_default(),
                limit: traces_limit(query)?,
            },
        )),
        Some(id) if !view.is_empty() && !id.is_empty() => Ok((
            Method::GET,
            Action::ViewItem {
                view,
                id: percent_decoded(id),
            },
        )),
        _ => Err(Reply::error(
            404,
            "not_found",
            format!("no endpoint {path:?}"),
        )),
    }
}

/// Query parameter `key`, percent-decoded (`+` is a space, as a form sends it).
fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
        .map(|value| percent_decoded(&value.replace('+', " ")))
}

/// `text` with its `%XX` escapes decoded; malformed escapes are kept as they are.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/queues/{queue}/dead-letters` (GET), `…/dead-letters/replay` and `…/purge` (POST,
/// `?task=ID` for one task's, all otherwise).
fn queue_route(path: &str, query: Option<&str>) -> Result<(Method, Action), Reply> {
    let rest = path.strip_prefix("/queues/").unwrap_or_default();
    let mut parts = rest.split('/');
    let (Some(queue), Some("dead-letters")) = (parts.next(), parts.next()) else {
        return Err(Reply::error(
            404,
            "not_found",
            format!("no endpoint {path:?}"),
        ));
    };
    let queue = queue.to_owned();
    let task = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("task="))
        .map(str::to_owned);
    match (parts.next(), parts.next()) {
        (None, _) => Ok((
            Method::GET,
            Action::DeadLetters {
                queue,
                limit: traces_limit(query)?,
            },
        )),
        (Some("replay"), None) => Ok((Method::POST, Action::ReplayDeadLetters { queue, task })),
        (Some("purge"), None) => Ok((Method::POST, Action::PurgeDeadLetters { queue, task })),
        _ => Err(Reply::error(
            404,
            "not_found",
            format!("no endpoint {path:?}"),
        )),
    }
}

fn traces_limit(query: Option<&str>) -> Result<usize, Reply> {
    let Some(value) = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("limit="))
    else {
        return Ok(TRACES_DEFAULT);
    };
    value
        .parse::<usize>()
        .map(|n| n.min(TRACES_MAX))
        .map_err(|_| {
            Reply::error(
                400,
                "bad_request",
                format!("limit must be a number, not {value:?}"),
            )
        })
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (content_type, body) = match reply.body {
        ReplyBody::Json(value) => ("application/json", Bytes::from(value.to_string())),
        ReplyBody::Text { content_type, text } => (content_type, Bytes::from(text)),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(cookie) = reply
        .set_cookie
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        headers.insert(SET_COOKIE, cookie);
    }
    // The console: its own files only, never framed, no type sniffing.
    if content_type.starts_with("text/html") {
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"),
        );
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    }
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        headers.insert(ALLOW, HeaderValue::from_static("GET, POST"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_methods() {
        assert_eq!(
            route(&Method::GET, "/health/ready", None).unwrap(),
            Action::Ready
        );
        assert_eq!(
            route(&Method::GET, "/status/", None).unwrap(),
            Action::Status
        );
        assert_eq!(
            route(&Method::POST, "/actions/reload", None).unwrap(),
            Action::Reload
        );
        assert_eq!(
            route(&Method::GET, "/traces", Some("limit=5000")).unwrap(),
            Action::Traces { limit: TRACES_MAX }
        );
        assert_eq!(
            route(&Method::GET, "/traces/abc", None).unwrap(),
            Action::Trace {
                id: "abc".to_owned()
            }
        );
        assert_eq!(
            route(&Method::POST, "/actions/log-level", Some("level=debug")).unwrap(),
            Action::SetLogLevel {
                level: "debug".to_owned()
            }
        );
        assert_eq!(
            route(&Method::POST, "/actions/log-level", None)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            route(&Method::GET, "/queues/mail/dead-letters", Some("limit=5")).unwrap(),
            Action::DeadLetters {
                queue: "mail".to_owned(),
                limit: 5
            }
        );
        assert_eq!(
            route(
                &Method::POST,
                "/queues/mail/dead-letters/replay",
                Some("task=abc")
            )
            .unwrap(),
            Action::ReplayDeadLetters {
                queue: "mail".to_owned(),
                task: Some("abc".to_owned())
            }
        );
        assert_eq!(
            route(&Method::POST, "/queues/mail/dead-letters/purge", None).unwrap(),
            Action::PurgeDeadLetters {
                queue: "mail".to_owned(),
                task: None
            }
        );
        assert_eq!(
            route(&Method::GET, "/queues/mail/other", None)
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(
            route(&Method::GET, "/queues/mail/dead-letters/replay", None)
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(
            route(&Method::GET, "/traces/abc", None).unwrap(),
            Action::Trace { id: "abc".into() }
        );
        assert_eq!(
            route(&Method::GET, "/actions/stop", None)
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(
            route(&Method::POST, "/status", None).unwrap_err().status,
            405
        );
        assert_eq!(route(&Method::GET, "/nope", None).unwrap_err().status, 404);
        assert_eq!(
            route(&Method::GET, "/traces/a/b", None).unwrap_err().status,
            404
        );
        assert_eq!(
            route(&Method::GET, "/traces", Some("limit=x"))
                .unwrap_err()
                .status,
            400
        );
    }
}

//! The HTTP/1.1 channel of the control plane, on hyper.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use plba_contracts::CancellationToken;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::ControlError;
use crate::service::{Action, ControlPlaneService, Reply, ReplyBody};

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
pub struct ControlServer {
    addr: SocketAddr,
    cancel: CancellationToken,
    accept: JoinHandle<()>,
}

impl ControlServer {
    /// Binds `service.config().bind` and serves until [`stop`](Self::stop).
    pub async fn start(service: Arc<ControlPlaneService>) -> Result<Self, ControlError> {
        let address = service.config().bind.clone();
        let parsed: SocketAddr =
            address
                .parse()
                .map_err(|e: std::net::AddrParseError| ControlError::Address {
                    address: address.clone(),
                    reason: e.to_string(),
                })?;
        let listener = TcpListener::bind(parsed)
            .await
            .map_err(|source| ControlError::Bind { address, source })?;
        let addr = listener.local_addr().map_err(|source| ControlError::Bind {
            address: parsed.to_string(),
            source,
        })?;
        let cancel = CancellationToken::new();
        let accept = tokio::spawn(accept_loop(listener, service, cancel.clone()));
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

async fn accept_loop(
    listener: TcpListener,
    service: Arc<ControlPlaneService>,
    cancel: CancellationToken,
) {
    let header_timeout = Duration::from_millis(service.config().header_timeout_ms);
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
        let service = Arc::clone(&service);
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let handler = hyper::service::service_fn(move |request| {
                let service = Arc::clone(&service);
                async move { Ok::<_, Infallible>(respond(&service, request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), handler);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = cancel.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
}

/// Handles one request; never panics (a panic inside an action becomes a 500).
async fn respond(
    service: &ControlPlaneService,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let reply = match AssertUnwindSafe(handle(service, request))
        .catch_unwind()
        .await
    {
        Ok(reply) => reply,
        Err(_) => {
            tracing::error!("control plane request handler panicked");
            Reply::error(500, "internal", "the request could not be handled")
        }
    };
    to_response(reply)
}

async fn handle(service: &ControlPlaneService, request: Request<Incoming>) -> Reply {
    let (parts, body) = request.into_parts();
    let action = match route(&parts.method, parts.uri.path(), parts.uri.query()) {
        Ok(action) => action,
        Err(reply) => return reply,
    };
    if parts.method == Method::POST {
        let limit = service.config().max_body_bytes;
        let timeout = Duration::from_millis(service.config().request_timeout_ms);
        let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await;
        let bytes = match collected {
            Err(_) => {
                return Reply::error(408, "request_timeout", "the request body took too long");
            }
            Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
                return Reply::error(
                    413,
                    "payload_too_large",
                    format!("the body is over {limit} bytes"),
                );
            }
            Ok(Err(error)) => {
                return Reply::error(400, "bad_request", format!("cannot read the body: {error}"));
            }
            Ok(Ok(collected)) => collected.to_bytes(),
        };
        if !bytes.iter().all(u8::is_ascii_whitespace)
            && let Err(error) = serde_json::from_slice::<serde_json::Value>(&bytes)
        {
            return Reply::error(
                400,
                "invalid_json",
                format!("the body is not JSON: {error}"),
            );
        }
    }
    let authorization = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    service.perform(action, authorization).await
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
        other => match other.strip_prefix("/traces/") {
            Some(id) if !id.is_empty() && !id.contains('/') => {
                (Method::GET, Action::Trace { id: id.to_owned() })
            }
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

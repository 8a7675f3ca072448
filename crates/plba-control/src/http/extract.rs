//! What handlers take from a request: path and query parameters (percent-decoded by axum,
//! the same way everywhere; a malformed one is a JSON 400), and the [`Call`] that performs
//! an action for the request's caller.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Response};
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use hyper::body::Body as _;
use serde::de::DeserializeOwned;

use super::response::{CSRF_HEADER, closing, reply_response, session_id};
use crate::action::Action;
use crate::api_error::ApiError;
use crate::service::{ControlPlaneService, Credentials};

/// The state every handler shares.
pub(crate) type Shared = Arc<ControlPlaneService>;

/// Query parameters, decoded into `T` (whose fields are text): percent-escapes and `+` are
/// decoded as a form sends them, and a key given twice counts once, with its first value.
#[derive(Debug)]
pub(crate) struct Query<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let mut fields = serde_json::Map::new();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            fields
                .entry(key.into_owned())
                .or_insert_with(|| serde_json::Value::String(value.into_owned()));
        }
        serde_json::from_value(serde_json::Value::Object(fields))
            .map(Self)
            .map_err(|error| ApiError::BadRequest(format!("bad query: {error}")))
    }
}

/// Path parameters, percent-decoded into `T`.
#[derive(Debug)]
pub(crate) struct Path<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|path| Self(path.0))
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

/// The address of the client that sent a request, put in its extensions by the accept loop.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientAddr(pub(crate) std::net::IpAddr);

/// Marks a response whose request body was read to its end, so the connection can carry
/// the next request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyDrained;

/// One request's call on the service: its credentials and its (unread) body. Taken last
/// by a handler, as it holds the body.
#[derive(Debug)]
pub(crate) struct Call {
    service: Shared,
    method: Method,
    authorization: Option<String>,
    session: Option<String>,
    csrf: Option<String>,
    /// `Origin` and `Host`, to refuse a change a page of another site sends.
    origin: Option<String>,
    host: Option<String>,
    client: Option<std::net::IpAddr>,
    /// `Content-Type`, for the one route that reads a body.
    content_type: Option<String>,
    body: Body,
}

impl FromRequest<Shared> for Call {
    type Rejection = std::convert::Infallible;

    async fn from_request(request: Request, service: &Shared) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let header = |headers: &HeaderMap, name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let cookie = header(&parts.headers, "cookie");
        Ok(Self {
            service: Arc::clone(service),
            authorization: header(&parts.headers, "authorization"),
            session: cookie.as_deref().and_then(session_id).map(str::to_owned),
            csrf: header(&parts.headers, CSRF_HEADER),
            origin: header(&parts.headers, "origin"),
            host: header(&parts.headers, "host"),
            client: parts.extensions.get::<ClientAddr>().map(|c| c.0),
            content_type: header(&parts.headers, "content-type"),
            method: parts.method,
            body,
        })
    }
}

/// Makes the action from a request's JSON body, once the caller was let through.
type FromBody = Box<dyn FnOnce(&[u8]) -> Result<Action, ApiError> + Send>;

impl Call {
    /// Performs `action`: the caller is checked from the headers first, so an unauthorised
    /// client cannot hold a connection by sending a body slowly; then a POST's body is read
    /// (bounded in size and time, and otherwise unused: no action but a password change
    /// takes one); then the action runs.
    pub(crate) async fn perform(self, action: Action) -> Response<Body> {
        self.perform_reading(action, None).await
    }

    /// Performs the action `fill` makes of the request's JSON body (`T`), checking the
    /// caller against `shape` (the same action, empty) before a byte of the body is read.
    pub(crate) async fn perform_with_json<T>(
        self,
        shape: Action,
        fill: fn(T) -> Action,
    ) -> Response<Body>
    where
        T: DeserializeOwned + 'static,
    {
        let from_body: FromBody = Box::new(move |bytes: &[u8]| {
            serde_json::from_slice::<T>(bytes)
                .map(fill)
                .map_err(|error| {
                    ApiError::BadRequest(format!("the body is not the JSON expected: {error}"))
                })
        });
        self.perform_reading(shape, Some(from_body)).await
    }

    async fn perform_reading(self, action: Action, from_body: Option<FromBody>) -> Response<Body> {
        let Self {
            service,
            method,
            authorization,
            session,
            csrf,
            origin,
            host,
            client,
            content_type,
            body,
        } = self;
        if method == Method::POST
            && let Some(origin) = origin
            && !same_origin(&origin, host.as_deref())
        {
            let origin = origin.chars().take(200).collect();
            let denied = ApiError::ForeignOrigin { origin };
            service.refused(client, "unchecked", action.name(), &denied);
            return denied.into_response();
        }
        let credentials = Credentials {
            authorization: authorization.as_deref(),
            session: session.as_deref(),
            csrf: csrf.as_deref(),
            client,
        };
        let caller = match service.authenticate(&action, credentials).await {
            Ok(caller) => caller,
            Err(denied) => return denied.into_response(),
        };
        let json = content_type.as_deref().is_some_and(|value| {
            let media = value.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case("application/json")
        });
        if from_body.is_some() && !json {
            return closing(ApiError::UnsupportedMediaType.into_response());
        }
        let mut action = action;
        let drained = if method == Method::POST {
            match read(&service, body, from_body.is_some()).await {
                Ok(bytes) => {
                    if let Some(from_body) = from_body {
                        match from_body(&bytes) {
                            Ok(filled) => action = filled,
                            Err(error) => {
                                let mut refused = error.into_response();
                                refused.extensions_mut().insert(BodyDrained);
                                return refused;
                            }
                        }
                    }
                    true
                }
                Err(error) => return closing(error.into_response()),
            }
        } else {
            body.is_end_stream()
        };
        let mut response = match service.perform_as(&action, &caller, credentials).await {
            Ok(reply) => reply_response(reply, service.secure_cookies()),
            Err(error) => error.into_response(),
        };
        if drained {
            response.extensions_mut().insert(BodyDrained);
        }
        response
    }
}

/// Whether `origin` (`scheme://host[:port]`, as a browser sends it) names the server the
/// request reached (its `Host`). A browser sends `Origin` with every POST, so a page of
/// another site cannot make a change here even before its CSRF token is checked.
fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    match (authority, host) {
        (Some(authority), Some(host)) => authority.eq_ignore_ascii_case(host),
        _ => false,
    }
}

/// Reads a request body a frame at a time, keeping it only when `keep` (otherwise it is
/// dropped as it comes): at most `max_body_bytes` (a declared length over it is refused
/// before a byte is read), within the body timeout.
async fn read(service: &ControlPlaneService, body: Body, keep: bool) -> Result<Vec<u8>, ApiError> {
    let config = service.config();
    let limit = config.max_body_bytes;
    if body.size_hint().lower() > u64::try_from(limit).unwrap_or(u64::MAX) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let timeout = Duration::from_millis(config.body_timeout_ms.min(config.request_timeout_ms));
    let read = async {
        let mut body = body;
        let mut seen = 0_usize;
        let mut kept = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|error| ApiError::BadRequest(format!("cannot read the body: {error}")))?;
            if let Some(data) = frame.data_ref() {
                seen = seen.saturating_add(data.len());
                if seen > limit {
                    return Err(ApiError::PayloadTooLarge { limit });
                }
                if keep {
                    kept.extend_from_slice(data);
                }
            }
        }
        Ok(kept)
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(ApiError::RequestTimeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_the_same_only_when_it_names_the_host_reached() {
        assert!(same_origin("http://127.0.0.1:9090", Some("127.0.0.1:9090")));
        assert!(same_origin(
            "https://Bot.Example:8443",
            Some("bot.example:8443")
        ));
        assert!(!same_origin("http://evil.example", Some("127.0.0.1:9090")));
        assert!(!same_origin("null", Some("127.0.0.1:9090")));
        assert!(!same_origin("http://127.0.0.1:9090", None));
        assert!(!same_origin(
            "http://127.0.0.1:9091",
            Some("127.0.0.1:9090")
        ));
    }
}

//! How an action's reply and an [`ApiError`] look over HTTP: status, JSON or text body, the
//! session cookie, and the headers each kind of answer carries.

use axum::body::Body;
use axum::http::header::{
    ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, HeaderValue, RETRY_AFTER, SET_COOKIE,
    STRICT_TRANSPORT_SECURITY, WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;

use crate::api_error::ApiError;
use crate::reply::{Reply, ReplyBody, SessionChange};

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "plba_session";

/// The header a session's mutating requests carry their CSRF token in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// `reply` as an HTTP answer; a session it opened or ended becomes the session cookie
/// (`Secure` when the control plane is served over TLS).
pub(crate) fn reply_response(reply: Reply, secure: bool) -> Response<Body> {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (content_type, body) = match reply.body {
        ReplyBody::Json(value) => ("application/json", value.to_string()),
        ReplyBody::Text { content_type, text } => (content_type, text),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(cookie) = reply
        .session
        .map(|change| session_cookie(&change, secure))
        .and_then(|cookie| HeaderValue::from_str(&cookie).ok())
    {
        headers.insert(SET_COOKIE, cookie);
    }
    response
}

/// The `Set-Cookie` value that hands a browser its session, or makes it forget it.
pub(crate) fn session_cookie(change: &SessionChange, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match change {
        SessionChange::Opened {
            id,
            lifetime_seconds,
        } => format!(
            "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={lifetime_seconds}{secure}"
        ),
        SessionChange::Ended => {
            format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}")
        }
    }
}

/// The session id in a `Cookie` header (`a=1; plba_session=…; b=2`). Two different session
/// cookies are ambiguous (one may have been planted by another application on the same
/// host) and count as none.
pub(crate) fn session_id(cookie_header: &str) -> Option<&str> {
    let mut ids = cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim());
    let first = ids.next().filter(|value| !value.is_empty())?;
    ids.all(|other| other == first).then_some(first)
}

/// `response` with the headers every answer carries: never cached (answers hold the CSRF
/// token, the configuration, personal data from the application's pages), never
/// type-sniffed, and over TLS a promise to browsers to come back over TLS only.
pub(crate) fn secured(mut response: Response<Body>, tls: bool) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if tls {
        headers.insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// Marks `response` as the connection's last answer.
pub(crate) fn closing(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response<Body> {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = Response::new(Body::from(self.to_json().to_string()));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match &self {
            Self::Unauthorized(_) => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::MethodNotAllowed { allowed, .. } => {
                headers.insert(ALLOW, HeaderValue::from_static(allowed));
            }
            Self::TooManyFailures { retry_after_secs }
            | Self::TooManySignIns { retry_after_secs }
            | Self::TooManyTokens { retry_after_secs } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Overloaded => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_id_is_read_from_among_other_cookies() {
        assert_eq!(session_id("a=1; plba_session=abc ; b=2"), Some("abc"));
        assert_eq!(session_id("plba_session="), None);
        assert_eq!(session_id("other=1"), None);
        assert_eq!(
            session_id("plba_session=a; plba_session=b"),
            None,
            "ambiguous"
        );
        assert_eq!(session_id("plba_session=a; x=1; plba_session=a"), Some("a"));
    }

    #[test]
    fn errors_carry_the_headers_their_kind_needs() {
        let refused = ApiError::MethodNotAllowed {
            path: "/status".to_owned(),
            allowed: "GET, HEAD",
        }
        .into_response();
        assert_eq!(refused.headers()[ALLOW], "GET, HEAD");
        let unauthorized = ApiError::Unauthorized("a bearer token is required").into_response();
        assert_eq!(unauthorized.headers()[WWW_AUTHENTICATE], "Bearer");
        assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    }
}

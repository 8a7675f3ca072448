//! `/ui/oidc/start` and `/ui/oidc/callback`: single sign-on through OpenID Connect. The
//! start sends the browser to the provider with a fresh `state`, which it also binds to this
//! browser in a short-lived cookie; the callback finishes the sign-in and sends the browser
//! to the console, signed in, or to the sign-in form with a word saying why not.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde::Deserialize;

use super::extract::{Call, ClientAddr, Query, Shared};
use super::response::session_cookie;
use super::routes::RouteTable;
use crate::action::Action;
use crate::service::{Callback, Failed};

/// The cookie that binds a sign-in to the browser that started it: a random value of its
/// own, never in a URL.
const BINDING_COOKIE: &str = "plba_sign_in";

/// Adds the single sign-on routes.
pub(super) fn routes(table: RouteTable) -> RouteTable {
    table
        .get("/ui/session/methods", methods)
        .get("/ui/oidc/start", start)
        .get("/ui/oidc/callback", callback)
}

async fn methods(call: Call) -> Response<Body> {
    call.perform(Action::SignInMethods).await
}

/// `?page=` of the start: the console page to come back to.
#[derive(Debug, Deserialize)]
struct StartQuery {
    page: Option<String>,
}

async fn start(
    State(service): State<Shared>,
    client: Option<axum::Extension<ClientAddr>>,
    Query(query): Query<StartQuery>,
) -> Response<Body> {
    if !service.has_single_sign_on() {
        return axum::response::IntoResponse::into_response(crate::api_error::ApiError::NotFound(
            "single sign-on is not configured (platform.control.oidc)".to_owned(),
        ));
    }
    let page = query
        .page
        .as_deref()
        .filter(|page| is_console_page(page))
        .unwrap_or("");
    let secure = service.secure_cookies();
    let client = client.map(|axum::Extension(ClientAddr(ip))| ip);
    match service.begin_single_sign_on(page, client).await {
        Ok(started) => {
            let cookie = format!(
                "{BINDING_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/ui/oidc; Max-Age=600{}",
                started.binding,
                if secure { "; Secure" } else { "" }
            );
            see_other(&started.url, &[cookie])
        }
        Err(failed) => to_sign_in_form(failed, secure),
    }
}

/// What the provider sends back.
#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

async fn callback(
    State(service): State<Shared>,
    client: Option<axum::Extension<ClientAddr>>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response<Body> {
    let secure = service.secure_cookies();
    let binding = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == BINDING_COOKIE)
        .map(|(_, value)| value.to_owned());
    let callback = Callback {
        code: query.code,
        state: query.state,
        error: query.error,
        issuer: query.iss,
        binding,
    };
    let client = client.map(|axum::Extension(ClientAddr(ip))| ip);
    match service.finish_single_sign_on(callback, client).await {
        Ok(signed_in) => {
            let location = format!("/ui#{}", signed_in.page);
            see_other(
                &location,
                &[
                    forget_state(secure),
                    session_cookie(&signed_in.session, secure),
                ],
            )
        }
        Err(failed) => to_sign_in_form(failed, secure),
    }
}

/// Whether `page` names a console page (`queues`, `view/orders/A-1`): the only place a
/// sign-in may lead back to, so no link can send a signed-in browser elsewhere.
fn is_console_page(page: &str) -> bool {
    page.len() <= 200
        && page
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.'))
}

/// The cookie that makes the browser forget a sign-in's `state`.
fn forget_state(secure: bool) -> String {
    format!(
        "{BINDING_COOKIE}=; HttpOnly; SameSite=Lax; Path=/ui/oidc; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Back to the console's sign-in form, which says why in words of its own.
fn to_sign_in_form(Failed(why): Failed, secure: bool) -> Response<Body> {
    see_other(&format!("/ui?sign_in_error={why}"), &[forget_state(secure)])
}

/// A `303 See Other` to `location`, setting `cookies`.
fn see_other(location: &str, cookies: &[String]) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(LOCATION, location);
    }
    for cookie in cookies {
        if let Ok(cookie) = HeaderValue::from_str(cookie) {
            headers.append(SET_COOKIE, cookie);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_console_page_is_a_place_to_come_back_to() {
        assert!(is_console_page("queues"));
        assert!(is_console_page("view/orders/A-1"));
        assert!(is_console_page(""));
        // It is only ever a fragment of `/ui#…`, and even so no scheme, query or space.
        for elsewhere in ["https://evil.example", "x?y", "a#b", "a\\b", "é", "a b"] {
            assert!(!is_console_page(elsewhere), "{elsewhere}");
        }
        assert!(!is_console_page(&"a".repeat(201)));
    }
}

//! `/ui/session`: a browser signs in with a token or a password (POST), asks who it is
//! (GET), signs out (`/ui/session/end`) or signs its user out everywhere
//! (`/ui/session/end-everywhere`); the session travels as an HttpOnly cookie.

use axum::body::Body;
use axum::http::Response;

use super::extract::Call;
use super::routes::RouteTable;
use crate::action::Action;

/// Adds the sessions' routes.
pub(super) fn routes(table: RouteTable) -> RouteTable {
    table
        .get("/ui/session", who)
        .post("/ui/session", sign_in)
        .post("/ui/session/end", sign_out)
        .post("/ui/session/end-everywhere", sign_out_everywhere)
}

async fn sign_out_everywhere(call: Call) -> Response<Body> {
    call.perform(Action::SignOutEverywhere).await
}

async fn who(call: Call) -> Response<Body> {
    call.perform(Action::SessionInfo).await
}

async fn sign_in(call: Call) -> Response<Body> {
    call.perform(Action::SignIn).await
}

async fn sign_out(call: Call) -> Response<Body> {
    call.perform(Action::SignOut).await
}

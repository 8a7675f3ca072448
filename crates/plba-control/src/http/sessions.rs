//! `/ui/session`: a browser signs in with a token (POST), asks who it is (GET), and signs out
//! (`/ui/session/end`); the session travels as an HttpOnly cookie.

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

//! `/health/live`, `/health/ready` and `/health`.

use axum::body::Body;
use axum::http::Response;

use super::extract::Call;
use super::routes::RouteTable;
use crate::action::Action;

/// Adds the probes' routes.
pub(super) fn routes(table: RouteTable) -> RouteTable {
    table
        .get("/health/live", live)
        .get("/health/ready", ready)
        .get("/health", health)
}

async fn live(call: Call) -> Response<Body> {
    call.perform(Action::Live).await
}

async fn ready(call: Call) -> Response<Body> {
    call.perform(Action::Ready).await
}

async fn health(call: Call) -> Response<Body> {
    call.perform(Action::Health).await
}

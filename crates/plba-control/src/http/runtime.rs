//! `/status`, `/metrics` and the lifecycle actions under `/actions`.

use axum::body::Body;
use axum::http::Response;

use super::extract::Call;
use super::routes::RouteTable;
use crate::action::Action;

/// Adds the runtime's routes.
pub(super) fn routes(table: RouteTable) -> RouteTable {
    table
        .get("/status", status)
        .get("/metrics", metrics)
        .post("/actions/stop", stop)
        .post("/actions/start", start)
        .post("/actions/reload", reload)
        .post("/actions/shutdown", shutdown)
}

async fn status(call: Call) -> Response<Body> {
    call.perform(Action::Status).await
}

async fn metrics(call: Call) -> Response<Body> {
    call.perform(Action::Metrics).await
}

async fn stop(call: Call) -> Response<Body> {
    call.perform(Action::Stop).await
}

async fn start(call: Call) -> Response<Body> {
    call.perform(Action::Start).await
}

async fn reload(call: Call) -> Response<Body> {
    call.perform(Action::Reload).await
}

async fn shutdown(call: Call) -> Response<Body> {
    call.perform(Action::Shutdown).await
}

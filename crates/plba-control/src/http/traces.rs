//! `/traces` and `/traces/{id}`.

use axum::body::Body;
use axum::http::Response;

use super::extract::{Call, Path, Query};
use super::routes::{LimitQuery, RouteTable};
use crate::action::Action;
use crate::api_error::ApiError;

/// Adds the traces' routes.
pub(super) fn routes(table: RouteTable) -> RouteTable {
    table.get("/traces", recent).get("/traces/{id}", one)
}

async fn recent(Query(query): Query<LimitQuery>, call: Call) -> Result<Response<Body>, ApiError> {
    let limit = query.limit()?;
    Ok(call.perform(Action::Traces { limit }).await)
}

async fn one(Path(id): Path<String>, call: Call) -> Response<Body> {
    call.perform(Action::Trace { id }).await
}

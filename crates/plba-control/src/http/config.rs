//! `/config`, `/audit` and `/actions/log-level`.

use axum::body::Body;
use axum::http::Response;
use serde::Deserialize;

use super::extract::{Call, Query};
use super::routes::RouteTable;
use crate::action::Action;
use crate::api_error::ApiError;

/// Adds the configuration's routes.
pub(super) fn routes(table: RouteTable) -> RouteTable {
    table
        .get("/config", config)
        .get("/audit", audit)
        .post("/actions/log-level", log_level)
}

async fn config(call: Call) -> Response<Body> {
    call.perform(Action::Config).await
}

async fn audit(call: Call) -> Response<Body> {
    call.perform(Action::Audit).await
}

/// `?level=…`: a level or a filter in `tracing` directive syntax.
#[derive(Debug, Deserialize)]
struct LevelQuery {
    level: Option<String>,
}

async fn log_level(
    Query(query): Query<LevelQuery>,
    call: Call,
) -> Result<Response<Body>, ApiError> {
    let level = query
        .level
        .filter(|level| !level.trim().is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "give the level as ?level=debug (or a filter: ?level=info,plba_core=debug)"
                    .to_owned(),
            )
        })?;
    Ok(call.perform(Action::SetLogLevel { level }).await)
}

//! `/config` (and the configuration database's `/config/history` and `/config/values`),
//! `/audit` and `/actions/log-level`.

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
        .get("/config/history", history)
        .post("/config/values", set_value)
        .get("/audit", audit)
        .post("/actions/log-level", log_level)
}

async fn config(call: Call) -> Response<Body> {
    call.perform(Action::Config).await
}

/// `?key=…&limit=…`.
#[derive(Debug, Deserialize)]
struct HistoryQuery {
    key: Option<String>,
    limit: Option<String>,
}

async fn history(
    Query(query): Query<HistoryQuery>,
    call: Call,
) -> Result<Response<Body>, ApiError> {
    let limit = match query.limit.as_deref() {
        None => 100,
        Some(text) => text.parse::<usize>().map_err(|_| {
            ApiError::BadRequest(format!(
                "limit must be a number, not {:?}",
                plba_util::printable(text)
            ))
        })?,
    };
    let key = query.key.filter(|key| !key.trim().is_empty());
    Ok(call.perform(Action::ConfigHistory { key, limit }).await)
}

/// The body of `POST /config/values`: the key, its value as YAML (`null` removes it), why.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValueChange {
    key: String,
    value: Option<String>,
    comment: Option<String>,
}

async fn set_value(call: Call) -> Response<Body> {
    let shape = Action::SetConfigValue {
        key: String::new(),
        value: Some(String::new()),
        comment: None,
    };
    call.perform_with_json(shape, |change: ValueChange| Action::SetConfigValue {
        key: change.key,
        value: change.value,
        comment: change.comment,
    })
    .await
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

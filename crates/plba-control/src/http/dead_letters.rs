//! `/queues/{queue}/dead-letters`, with `…/replay` and `…/purge` (`?task=ID` for one task's).

use axum::body::Body;
use axum::http::Response;
use serde::Deserialize;

use super::extract::{Call, Path, Query};
use super::routes::{LimitQuery, RouteTable};
use crate::action::Action;
use crate::api_error::ApiError;

/// Adds the dead letters' routes.
pub(super) fn routes(table: RouteTable) -> RouteTable {
    table
        .get("/queues/{queue}/dead-letters", list)
        .post("/queues/{queue}/dead-letters/replay", replay)
        .post("/queues/{queue}/dead-letters/purge", purge)
}

/// `?task=ID`: one task's dead letters (all of them without it).
#[derive(Debug, Deserialize)]
struct TaskQuery {
    task: Option<String>,
}

async fn list(
    Path(queue): Path<String>,
    Query(query): Query<LimitQuery>,
    call: Call,
) -> Result<Response<Body>, ApiError> {
    let limit = query.limit()?;
    Ok(call.perform(Action::DeadLetters { queue, limit }).await)
}

async fn replay(
    Path(queue): Path<String>,
    Query(query): Query<TaskQuery>,
    call: Call,
) -> Response<Body> {
    let task = query.task;
    call.perform(Action::ReplayDeadLetters { queue, task })
        .await
}

async fn purge(
    Path(queue): Path<String>,
    Query(query): Query<TaskQuery>,
    call: Call,
) -> Response<Body> {
    let task = query.task;
    call.perform(Action::PurgeDeadLetters { queue, task }).await
}

//! `/views`, `/views/{view}` and `/views/{view}/{*id}`: the pages modules contribute.

use axum::body::Body;
use axum::http::Response;
use serde::Deserialize;

use super::extract::{Call, Path, Query};
use super::routes::{LimitQuery, RouteTable};
use crate::action::Action;
use crate::api_error::ApiError;

/// Adds the views' routes.
pub(super) fn routes(table: RouteTable) -> RouteTable {
    table
        .get("/views", list_views)
        .get("/views/{view}", rows)
        // The id may hold a `/` of its own (sent plainly or as `%2F`).
        .get("/views/{view}/{*id}", item)
}

async fn list_views(call: Call) -> Response<Body> {
    call.perform(Action::Views).await
}

/// `?q=…`: free-text search (empty: all rows).
#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn rows(
    Path(view): Path<String>,
    Query(search): Query<SearchQuery>,
    Query(limit): Query<LimitQuery>,
    call: Call,
) -> Result<Response<Body>, ApiError> {
    let action = Action::ViewList {
        view,
        search: search.q,
        limit: limit.limit()?,
    };
    Ok(call.perform(action).await)
}

async fn item(Path((view, id)): Path<(String, String)>, call: Call) -> Response<Body> {
    call.perform(Action::ViewItem { view, id }).await
}

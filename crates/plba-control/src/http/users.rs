//! `/users`: the users of `platform.control.users`, for admins: list them, disable or enable
//! one (`/users/{name}/disable`, `…/enable`), change one's role (`/users/{name}/role?role=`).

use axum::body::Body;
use axum::http::Response;
use plba_config::ControlRole;
use serde::Deserialize;

use super::extract::{Call, Path, Query};
use super::routes::RouteTable;
use crate::action::Action;

/// Adds the users' routes.
pub(super) fn routes(table: RouteTable) -> RouteTable {
    table
        .get("/users", list)
        .post("/users/{name}/disable", disable)
        .post("/users/{name}/enable", enable)
        .post("/users/{name}/role", set_role)
}

async fn list(call: Call) -> Response<Body> {
    call.perform(Action::Users).await
}

async fn disable(Path(name): Path<String>, call: Call) -> Response<Body> {
    call.perform(Action::SetUserDisabled {
        name,
        disabled: true,
    })
    .await
}

async fn enable(Path(name): Path<String>, call: Call) -> Response<Body> {
    call.perform(Action::SetUserDisabled {
        name,
        disabled: false,
    })
    .await
}

/// `?role=viewer|operator|admin`.
#[derive(Debug, Deserialize)]
struct RoleQuery {
    role: ControlRole,
}

async fn set_role(
    Path(name): Path<String>,
    Query(query): Query<RoleQuery>,
    call: Call,
) -> Response<Body> {
    call.perform(Action::SetUserRole {
        name,
        role: query.role,
    })
    .await
}

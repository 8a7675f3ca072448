//! `/me`: a user's own account, their API tokens (`/me/tokens`, made and revoked) and their
//! password (`/me/password`, the only route that takes a body: the passwords, as JSON).

use axum::body::Body;
use axum::http::Response;
use plba_contracts::Secret;
use serde::Deserialize;

use super::extract::{Call, Path, Query};
use super::routes::RouteTable;
use crate::action::Action;
use crate::api_error::ApiError;

/// Adds the account's routes.
pub(super) fn routes(table: RouteTable) -> RouteTable {
    table
        .get("/me/tokens", tokens)
        .post("/me/tokens", create)
        .post("/me/tokens/{id}/revoke", revoke)
        .post("/me/password", change_password)
}

async fn tokens(call: Call) -> Response<Body> {
    call.perform(Action::MyTokens).await
}

/// `?name=…&days=…` (days 1 to 730).
#[derive(Debug, Deserialize)]
struct CreateQuery {
    name: String,
    days: String,
}

async fn create(Query(query): Query<CreateQuery>, call: Call) -> Response<Body> {
    let Ok(days) = query.days.parse::<u32>() else {
        return axum::response::IntoResponse::into_response(ApiError::BadRequest(format!(
            "days must be a number, not {:?}",
            plba_util::printable(&query.days)
        )));
    };
    call.perform(Action::CreateMyToken {
        name: query.name,
        days,
    })
    .await
}

async fn revoke(Path(id): Path<String>, call: Call) -> Response<Body> {
    call.perform(Action::RevokeMyToken { id }).await
}

/// The body of `/me/password`.
#[derive(Deserialize)]
struct PasswordChange {
    current: String,
    new: String,
}

async fn change_password(call: Call) -> Response<Body> {
    let shape = Action::ChangeMyPassword {
        current: Secret::default(),
        new: Secret::default(),
    };
    call.perform_with_json(shape, |change: PasswordChange| Action::ChangeMyPassword {
        current: Secret::new(change.current),
        new: Secret::new(change.new),
    })
    .await
}

//! The users of `platform.control.users`, as admins see and change them from the console
//! or the API.

use serde_json::json;

use super::ControlPlaneService;
use crate::api_error::ApiError;
use crate::reply::Reply;
use plba_config::ControlRole;

impl ControlPlaneService {
    pub(super) fn user_store(&self) -> Result<&plba_auth::UserStore, ApiError> {
        self.users.as_ref().ok_or(ApiError::NotFound(
            "no users' database is configured (platform.control.users)".to_owned(),
        ))
    }

    /// `GET /users`: every user, with role and state (never a password's hash).
    pub(super) async fn users(&self) -> Result<Reply, ApiError> {
        let users = self.user_store()?.list().await?;
        Ok(Reply::ok(json!({ "users": users })))
    }

    /// `POST /users/{name}/disable` or `…/enable`.
    pub(super) async fn set_user_disabled(
        &self,
        name: &str,
        disabled: bool,
    ) -> Result<Reply, ApiError> {
        let user = self
            .user_store()?
            .set_disabled(name, disabled)
            .await
            .map_err(user_error)?;
        Ok(Reply::ok(json!({ "user": user })))
    }

    /// `POST /users/{name}/role?role=…`.
    pub(super) async fn set_user_role(
        &self,
        name: &str,
        role: ControlRole,
    ) -> Result<Reply, ApiError> {
        let user = self
            .user_store()?
            .set_role(name, role)
            .await
            .map_err(user_error)?;
        Ok(Reply::ok(json!({ "user": user })))
    }
}

/// A missing user is the caller's 404; anything else the server's.
fn user_error(error: plba_auth::AuthError) -> ApiError {
    match error {
        plba_auth::AuthError::NotFound(name) => ApiError::NotFound(format!(
            "no user is named {:?}",
            plba_util::printable(&name)
        )),
        other => ApiError::from(other),
    }
}

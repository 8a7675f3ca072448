//! Browser sessions: signing in with a token, who the session is, signing out.

use std::net::IpAddr;
use std::time::Instant;

use serde_json::json;

use super::ControlPlaneService;
use super::allowances::client_key;
use crate::api_error::ApiError;
use crate::auth::Caller;
use crate::reply::{Reply, SessionChange};

impl ControlPlaneService {
    /// Opens a session for a caller that presented a valid token, or a user's name and
    /// password (checked here: a wrong one counts against the client's allowance of
    /// failures, like a wrong token).
    pub(super) async fn sign_in(
        &self,
        caller: &Caller,
        client: Option<IpAddr>,
    ) -> Result<Reply, ApiError> {
        let (name, role) = match caller {
            Caller::Known { name, role } => (name.clone(), *role),
            Caller::Password { name, password } => {
                let users = self
                    .users
                    .as_ref()
                    .ok_or(ApiError::Unauthorized("a valid token is required"))?;
                let user = users
                    .authenticate(name, password.expose())
                    .await
                    .map_err(|error| ApiError::Internal(plba_util::error_chain(&error)))?;
                match user {
                    Some(user) => (user.name, user.role),
                    None => {
                        if let Some(client) = client {
                            self.failures.spend(&client_key(client), Instant::now());
                        }
                        return Err(ApiError::Unauthorized(
                            "the user name or the password is wrong (or the user is disabled)",
                        ));
                    }
                }
            }
            _ => return Err(ApiError::Unauthorized("a valid token is required")),
        };
        let (id, session) = self
            .sessions
            .open(&name, role)
            .map_err(ApiError::Internal)?;
        let lifetime_seconds = self.sessions.lifetime().as_secs();
        Ok(Reply::ok(json!({
            "name": session.name,
            "role": session.role,
            "csrf": session.csrf,
            "expires_in_seconds": lifetime_seconds,
        }))
        .with_session(SessionChange::Opened {
            id,
            lifetime_seconds,
        }))
    }

    /// Who the session `id` is, with its CSRF token for the page's changes.
    pub(super) fn session_info(&self, id: Option<&str>) -> Result<Reply, ApiError> {
        let session = self
            .sessions
            .find(id)
            .ok_or(ApiError::Unauthorized("no session: sign in first"))?;
        Ok(Reply::ok(
            json!({ "name": session.name, "role": session.role, "csrf": session.csrf }),
        ))
    }

    /// Ends the session `id`.
    pub(super) fn sign_out(&self, id: Option<&str>) -> Reply {
        self.sessions.close(id);
        Reply::ok(json!({ "signed_out": true })).with_session(SessionChange::Ended)
    }
}

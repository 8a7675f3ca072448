//! Browser sessions: signing in with a token, who the session is, signing out.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use std::sync::atomic::Ordering;

use plba_auth::{LockoutPolicy, SessionLifetimes, SignIn};

use serde_json::json;

use super::ControlPlaneService;
use super::allowances::client_key;
use crate::api_error::ApiError;
use crate::auth::Caller;
use crate::reply::{Reply, SessionChange};
use crate::sessions::Session;

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
            Caller::Known { name, role, .. } => (name.clone(), *role),
            Caller::Password { name, password } => {
                let users = self
                    .users
                    .as_ref()
                    .ok_or(ApiError::Unauthorized("a valid token is required"))?;
                let lockout = self.config.lockout;
                let policy = LockoutPolicy {
                    failures: lockout.failures,
                    window: Duration::from_millis(lockout.window_ms),
                    lock: Duration::from_millis(lockout.lock_ms),
                };
                // Counted before the password is checked, so attempts sent at once from
                // one address cannot all be checked.
                if let Some(client) = client {
                    self.failures.spend(&client_key(client), Instant::now());
                }
                let outcome = users
                    .sign_in(name, password.expose(), policy)
                    .await
                    .map_err(ApiError::from)?;
                if let SignIn::Accepted(user) = outcome {
                    (user.name, user.role)
                } else {
                    self.sign_in_counts.refused.fetch_add(1, Ordering::Relaxed);
                    if let SignIn::LockedNow { until_ms } = outcome {
                        self.sign_in_counts.lockouts.fetch_add(1, Ordering::Relaxed);
                        self.audit.record(name, client, "account-locked", 423);
                        let client = client.map(|ip| ip.to_string());
                        tracing::warn!(target: "plba::audit", who = name.as_str(), client, until_ms, "account locked after too many wrong passwords");
                    }
                    // The same answer whatever the reason, so it tells a guesser nothing.
                    return Err(ApiError::Unauthorized(
                        "the user name or the password is wrong, the user is disabled, or the account is locked for a while",
                    ));
                }
            }
            _ => return Err(ApiError::Unauthorized("a valid token is required")),
        };
        let (id, session) = match &self.users {
            // In the users' database, so every instance sharing it knows the session.
            Some(users) => {
                let user_backed = matches!(caller, Caller::Password { .. });
                let (id, csrf) = users
                    .open_session(&name, role, user_backed, self.lifetimes())
                    .await
                    .map_err(ApiError::from)?;
                (id, Session::stored(name, role, csrf, user_backed))
            }
            None => self
                .sessions
                .open(&name, role)
                .map_err(ApiError::Internal)?,
        };
        let lifetime_seconds = self.sessions.lifetime().as_secs();
        Ok(Reply::ok(json!({
            "name": session.name,
            "role": session.role,
            "csrf": session.csrf,
            "user": session.user_backed,
            "expires_in_seconds": lifetime_seconds,
        }))
        .with_session(SessionChange::Opened {
            id,
            lifetime_seconds,
        }))
    }

    /// How long sessions in the users' database last.
    pub(super) fn lifetimes(&self) -> SessionLifetimes {
        SessionLifetimes {
            idle: Duration::from_millis(self.config.session_idle_ms.max(1_000)),
            absolute: self.sessions.lifetime(),
        }
    }

    /// The live session `id`: in the users' database when there is one (so a sign-out or a
    /// disabled user anywhere ends it here too), else in this process's memory.
    pub(super) async fn find_session(&self, id: Option<&str>) -> Result<Option<Session>, ApiError> {
        match (&self.users, id) {
            (Some(users), Some(id)) => Ok(users
                .find_session(id, self.lifetimes())
                .await
                .map_err(ApiError::from)?
                .map(|found| {
                    Session::stored(found.principal, found.role, found.csrf, found.user_backed)
                })),
            (Some(_), None) => Ok(None),
            (None, id) => Ok(self.sessions.find(id)),
        }
    }

    /// Who the session `id` is, with its CSRF token for the page's changes.
    pub(super) async fn session_info(&self, id: Option<&str>) -> Result<Reply, ApiError> {
        let session = self
            .find_session(id)
            .await?
            .ok_or(ApiError::Unauthorized("no session: sign in first"))?;
        Ok(Reply::ok(json!({
            "name": session.name,
            "role": session.role,
            "csrf": session.csrf,
            "user": session.user_backed,
        })))
    }

    /// Ends the session `id`.
    pub(super) async fn sign_out(&self, id: Option<&str>) -> Result<Reply, ApiError> {
        match (&self.users, id) {
            (Some(users), Some(id)) => users.end_session(id).await.map_err(ApiError::from)?,
            _ => self.sessions.close(id),
        }
        Ok(Reply::ok(json!({ "signed_out": true })).with_session(SessionChange::Ended))
    }

    /// Ends every session of the caller's user (or token name), this browser's included.
    pub(super) async fn sign_out_everywhere(&self, caller: &Caller) -> Result<Reply, ApiError> {
        let Caller::Known { name, .. } = caller else {
            return Err(ApiError::Unauthorized("no session: sign in first"));
        };
        let ended = match &self.users {
            Some(users) => users.end_sessions_of(name).await.map_err(ApiError::from)?,
            None => self.sessions.close_all_of(name),
        };
        Ok(
            Reply::ok(json!({ "signed_out": true, "sessions_ended": ended }))
                .with_session(SessionChange::Ended),
        )
    }
}

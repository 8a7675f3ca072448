//! A user's own account: their API tokens (listed, made, revoked) and their password. Made
//! and changed only from a browser session, so a leaked API token cannot mint a successor
//! or lock its owner out.

use std::time::Duration;

use plba_auth::{AuthError, LockoutPolicy, SignIn};
use serde_json::json;

use super::ControlPlaneService;
use crate::api_error::ApiError;
use crate::auth::Caller;
use crate::reply::{Reply, SessionChange};

/// The longest a token made from the console lasts, in days.
const MAX_TOKEN_DAYS: u32 = 730;

impl ControlPlaneService {
    /// The user `caller` acts for; a session is required when `by_session`.
    fn own_account<'c>(&self, caller: &'c Caller, by_session: bool) -> Result<&'c str, ApiError> {
        match caller.user() {
            Some((name, session)) if session || !by_session => Ok(name),
            Some(_) => Err(ApiError::NeedsSession),
            None => Err(ApiError::NotFound(
                "this is a user's own page; configured tokens have no account".to_owned(),
            )),
        }
    }

    /// `GET /me/tokens`: the caller's API tokens, newest first (never their text), and
    /// whether they have a password here (not when they sign in through single sign-on).
    pub(super) async fn my_tokens(&self, caller: &Caller) -> Result<Reply, ApiError> {
        let user = self.own_account(caller, false)?;
        let users = self.user_store()?;
        let tokens = users.tokens(Some(user)).await?;
        let password = users.has_password(user).await?;
        Ok(Reply::ok(
            json!({ "user": user, "password": password, "tokens": tokens }),
        ))
    }

    /// `POST /me/tokens?name=…&days=…`: a new token for the caller, shown this once.
    pub(super) async fn create_my_token(
        &self,
        caller: &Caller,
        name: &str,
        days: u32,
    ) -> Result<Reply, ApiError> {
        let user = self.own_account(caller, true)?;
        // A person makes a token now and then; a flood would fill the audit's window.
        let now = std::time::Instant::now();
        if let Err(wait) = self.token_makes.check(&user.to_owned(), now) {
            return Err(ApiError::TooManyTokens {
                retry_after_secs: super::whole_seconds(wait),
            });
        }
        self.token_makes.spend(&user.to_owned(), now);
        if !(1..=MAX_TOKEN_DAYS).contains(&days) {
            return Err(ApiError::BadRequest(format!(
                "a token lasts 1 to {MAX_TOKEN_DAYS} days, not {days}"
            )));
        }
        let lifetime = Duration::from_secs(u64::from(days) * 86_400);
        let made = self
            .user_store()?
            .add_token(user, name, lifetime)
            .await
            .map_err(|error| match error {
                AuthError::BadTokenName(_) => ApiError::BadRequest(error.to_string()),
                AuthError::TooManyTokens { .. } => ApiError::Conflict(error.to_string()),
                other => ApiError::from(other),
            })?;
        Ok(Reply::ok(json!({
            "token": made.token.expose(),
            "info": made.info,
        })))
    }

    /// `POST /me/tokens/{id}/revoke`.
    pub(super) async fn revoke_my_token(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Reply, ApiError> {
        let user = self.own_account(caller, false)?;
        let revoked =
            self.user_store()?
                .revoke_token(user, id)
                .await
                .map_err(|error| match error {
                    AuthError::NoToken(_) => ApiError::NotFound(format!(
                        "you have no token {:?}",
                        plba_util::printable(id)
                    )),
                    other => ApiError::from(other),
                })?;
        Ok(Reply::ok(json!({ "revoked": id, "info": revoked })))
    }

    /// `POST /me/password` (`{"current": …, "new": …}`): the current password is checked
    /// like a sign-in (it counts towards the lockout), then replaced; every session of the
    /// user ends, this one included.
    pub(super) async fn change_my_password(
        &self,
        caller: &Caller,
        current: &str,
        new: &str,
    ) -> Result<Reply, ApiError> {
        let user = self.own_account(caller, true)?;
        if current == new {
            return Err(ApiError::BadRequest(
                "the new password is the current one".to_owned(),
            ));
        }
        let users = self.user_store()?;
        let lockout = self.config.lockout;
        let policy = LockoutPolicy {
            failures: lockout.failures,
            window: Duration::from_millis(lockout.window_ms),
            lock: Duration::from_millis(lockout.lock_ms),
        };
        let checked = users.sign_in(user, current, policy).await?;
        if !matches!(checked, SignIn::Accepted(_)) {
            // Not 401: the session is fine, the password typed is not.
            return Err(ApiError::BadRequest(
                "the current password is wrong, or the account is locked for a while".to_owned(),
            ));
        }
        users
            .set_password(user, new)
            .await
            .map_err(|error| match error {
                AuthError::WeakPassword(_) => ApiError::BadRequest(error.to_string()),
                other => ApiError::from(other),
            })?;
        Ok(Reply::ok(json!({ "changed": true, "signed_out": true }))
            .with_session(SessionChange::Ended))
    }
}

//! Single sign-on through OpenID Connect: starting a sign-in (the browser goes to the
//! provider) and finishing it (the provider sends the browser back with a code), which
//! opens a session in the users' database like a password sign-in.

use std::net::IpAddr;
use std::time::Instant;

use plba_auth::AuthError;
use plba_auth::oidc::{Answer, Started};
use serde_json::json;

use super::ControlPlaneService;
use super::allowances::client_key;
use crate::api_error::ApiError;
use crate::reply::{Reply, SessionChange};

/// What the provider sent the browser back with.
#[derive(Debug, Default)]
pub(crate) struct Callback {
    /// The authorization code.
    pub(crate) code: Option<String>,
    /// The sign-in's `state`.
    pub(crate) state: Option<String>,
    /// The provider's refusal (`access_denied`, …).
    pub(crate) error: Option<String>,
    /// The issuer the provider names (RFC 9207), when it names one.
    pub(crate) issuer: Option<String>,
    /// The binding this browser was given when it started, from its cookie.
    pub(crate) binding: Option<String>,
}

/// A finished sign-in: the session to hand the browser and the console page to show.
#[derive(Debug)]
pub(crate) struct SignedIn {
    pub(crate) session: SessionChange,
    pub(crate) page: String,
}

/// Why a sign-in did not finish, as a word the console turns into a sentence (nothing the
/// provider or the browser sent is shown as it came).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Failed(pub(crate) &'static str);

impl ControlPlaneService {
    /// How this console can be signed in to, for its sign-in form.
    pub(super) fn sign_in_methods(&self) -> Reply {
        Reply::ok(json!({
            "password": self.users.is_some(),
            "single_sign_on": self.sso.as_ref().map(|sso| json!({ "label": sso.label() })),
        }))
    }

    /// Whether single sign-on is configured.
    pub(crate) fn has_single_sign_on(&self) -> bool {
        self.sso.is_some() && self.users.is_some()
    }

    /// Starts a sign-in that lands on the console's `page`: where to send the browser. Each
    /// start waits in the users' database, so an address may start only a few a minute.
    pub(crate) async fn begin_single_sign_on(
        &self,
        page: &str,
        client: Option<IpAddr>,
    ) -> Result<Started, Failed> {
        let (Some(sso), Some(users)) = (&self.sso, &self.users) else {
            return Err(Failed("unavailable"));
        };
        if let Some(client) = client {
            let key = client_key(client);
            let now = Instant::now();
            if self.sso_starts.check(&key, now).is_err() {
                let denied = ApiError::TooManySignIns {
                    retry_after_secs: 60,
                };
                self.refused(Some(client), "anonymous", "sign-in-start", &denied);
                return Err(Failed("busy"));
            }
            self.sso_starts.spend(&key, now);
        }
        sso.begin(users, page).await.map_err(|error| {
            tracing::warn!(error = %plba_util::printable(&plba_util::error_chain(&error)), "single sign-on could not start");
            failure(&error)
        })
    }

    /// Finishes a sign-in: checks the browser is the one that started it, exchanges the
    /// code, checks the ID token, maps the role claim and opens a session. Every outcome
    /// is audited with the client's address.
    pub(crate) async fn finish_single_sign_on(
        &self,
        callback: Callback,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, Failed> {
        let outcome = self.finish(callback, client).await;
        let (who, status) = match &outcome {
            Ok((name, _)) => (name.clone(), 200),
            Err((name, error)) => (name.clone(), ApiError::from_sign_in(error).status()),
        };
        let who = format!("{who} (single sign-on)");
        self.audit.record(&who, client, "sign-in", status);
        let client_text = client.map(|ip| ip.to_string());
        match outcome {
            Ok((_, signed_in)) => {
                tracing::info!(target: "plba::audit", who, client = client_text, action = "sign-in", status, "control action");
                Ok(signed_in)
            }
            Err((_, error)) => {
                if let Some(client) = client {
                    self.failures.spend(&client_key(client), Instant::now());
                }
                self.sign_in_counts
                    .refused
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let why = plba_util::printable(&plba_util::error_chain(&error)).into_owned();
                tracing::warn!(target: "plba::audit", who, client = client_text, action = "sign-in", status, why, "single sign-on refused");
                Err(failure(&error))
            }
        }
    }

    /// The sign-in itself: who it was (when known) with the outcome.
    async fn finish(
        &self,
        callback: Callback,
        client: Option<IpAddr>,
    ) -> Result<(String, SignedIn), (String, AuthError)> {
        let unknown = || "(unknown)".to_owned();
        let (Some(sso), Some(users)) = (&self.sso, &self.users) else {
            return Err((unknown(), AuthError::SignInExpired));
        };
        if let Some(client) = client
            && self
                .failures
                .check(&client_key(client), Instant::now())
                .is_err()
        {
            return Err((unknown(), AuthError::Busy));
        }
        if let Some(error) = callback.error {
            let error = plba_util::printable(&error).chars().take(64).collect();
            return Err((unknown(), AuthError::ProviderRefused(error)));
        }
        // An answer naming another issuer is refused before the sign-in is used up.
        if callback
            .issuer
            .as_deref()
            .is_some_and(|iss| !sso.is_issuer(iss))
        {
            return Err((
                unknown(),
                AuthError::ProviderRefused("the answer names another issuer".to_owned()),
            ));
        }
        // The browser that comes back must be the one that started: its cookie's binding
        // goes with the `state`, so a sign-in an attacker started (planted in a link) or an
        // answer's leaked URL finishes nothing.
        let (Some(code), Some(state), Some(binding)) =
            (callback.code, callback.state, callback.binding)
        else {
            return Err((unknown(), AuthError::SignInExpired));
        };
        let answer = Answer {
            state: &state,
            binding: &binding,
            code: &code,
            issuer: callback.issuer.as_deref(),
        };
        let (identity, page) = sso
            .finish(users, answer)
            .await
            .map_err(|error| (unknown(), error))?;
        let user = users
            .sign_in_identity(&identity)
            .await
            .map_err(|error| (identity.name.clone(), error))?;
        let (id, _csrf) = users
            .open_session(&user.name, user.role, true, self.lifetimes())
            .await
            .map_err(|error| (user.name.clone(), error))?;
        let signed_in = SignedIn {
            session: SessionChange::Opened {
                id,
                lifetime_seconds: self.sessions.lifetime().as_secs(),
            },
            page,
        };
        Ok((user.name, signed_in))
    }
}

/// The word for why a sign-in failed.
fn failure(error: &AuthError) -> Failed {
    Failed(match error {
        AuthError::SignInExpired => "expired",
        AuthError::NoRole { .. } => "no_role",
        AuthError::Disabled(_) => "disabled",
        AuthError::NameTaken(_) => "name_taken",
        AuthError::BadIdToken(_) => "bad_token",
        AuthError::ProviderRefused(_) => "refused",
        AuthError::Provider { .. } => "provider",
        AuthError::Busy => "busy",
        _ => "failed",
    })
}

impl ApiError {
    /// The refusal a failed single sign-on stands for, for its audit status.
    fn from_sign_in(error: &AuthError) -> Self {
        match error {
            AuthError::NoRole { .. } | AuthError::Disabled(_) | AuthError::NameTaken(_) => {
                Self::Forbidden {
                    action: "sign-in",
                    needs: "viewer",
                    has: "none",
                }
            }
            AuthError::Busy => Self::Overloaded,
            AuthError::Provider { .. } => Self::Internal("the provider failed".to_owned()),
            _ => Self::Unauthorized("the sign-in is refused"),
        }
    }
}

//! Browser sessions for the control plane's pages: a token is presented once, and the
//! browser then holds a session id (over HTTP, a cookie) instead of the token; every
//! mutating request of a session must also carry its CSRF token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use plba_config::ControlRole;
use plba_util::Unpoisoned;
use tokio::time::Instant;

use crate::auth::{Account, Caller};

/// Most sessions one principal (a token's name) keeps at once: signing in again and again
/// ends that principal's own oldest session, never someone else's, and memory stays
/// bounded by the number of principals.
const MAX_SESSIONS_EACH: usize = 32;

/// One signed-in browser.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) name: String,
    pub(crate) role: ControlRole,
    pub(crate) csrf: String,
    /// A user's session (not a configured token's).
    pub(crate) user_backed: bool,
    expires: Instant,
}

impl Session {
    /// A session kept elsewhere (the users' database), as a request found it.
    pub(crate) fn stored(name: String, role: ControlRole, csrf: String, user_backed: bool) -> Self {
        Self {
            name,
            role,
            csrf,
            user_backed,
            expires: Instant::now(),
        }
    }

    pub(crate) fn caller(&self) -> Caller {
        let account = if self.user_backed {
            Account::User {
                name: self.name.clone(),
                by_session: true,
            }
        } else {
            Account::Configured
        };
        Caller::Known {
            name: self.name.clone(),
            role: self.role,
            account,
        }
    }
}

/// The sessions of one control plane, in memory (a restart signs everyone out).
#[derive(Debug)]
pub(crate) struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
    lifetime: Duration,
}

impl Sessions {
    pub(crate) fn new(lifetime: Duration) -> Self {
        Self {
            by_id: Mutex::new(HashMap::new()),
            lifetime,
        }
    }

    /// How long a session lasts from sign-in.
    pub(crate) fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Opens a session for `name` with `role`; its id (what the browser holds) and the session.
    pub(crate) fn open(&self, name: &str, role: ControlRole) -> Result<(String, Session), String> {
        let id = random_token()?;
        let session = Session {
            name: name.to_owned(),
            role,
            csrf: random_token()?,
            user_backed: false,
            expires: Instant::now() + self.lifetime,
        };
        let mut by_id = self.by_id.lock_or_recover();
        let now = Instant::now();
        by_id.retain(|_, s| s.expires > now);
        let own = by_id.values().filter(|s| s.name == name).count();
        if own >= MAX_SESSIONS_EACH
            && let Some(oldest) = by_id
                .iter()
                .filter(|(_, s)| s.name == name)
                .min_by_key(|(_, s)| s.expires)
                .map(|(id, _)| id.clone())
        {
            by_id.remove(&oldest);
        }
        by_id.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The live session `id`, if any.
    pub(crate) fn find(&self, id: Option<&str>) -> Option<Session> {
        let by_id = self.by_id.lock_or_recover();
        by_id
            .get(id?)
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    /// Ends every session of `name`; how many there were.
    pub(crate) fn close_all_of(&self, name: &str) -> u64 {
        let mut by_id = self.by_id.lock_or_recover();
        let before = by_id.len();
        by_id.retain(|_, s| s.name != name);
        u64::try_from(before - by_id.len()).unwrap_or(u64::MAX)
    }

    /// Ends the session `id`.
    pub(crate) fn close(&self, id: Option<&str>) {
        if let Some(id) = id {
            self.by_id.lock_or_recover().remove(id);
        }
    }
}

/// 32 random bytes from the operating system, hex-encoded.
fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a session: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares a presented CSRF token with the session's, in time that does not depend on
/// where they differ.
pub(crate) fn csrf_matches(session: &Session, presented: Option<&str>) -> bool {
    let Some(presented) = presented else {
        return false;
    };
    crate::auth::constant_time_eq(session.csrf.as_bytes(), presented.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_session_is_found_by_its_id_until_it_expires_or_ends() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let (id, session) = sessions.open("ops", ControlRole::Admin).unwrap();
        assert_ne!(id, session.csrf, "the session id and the CSRF token differ");
        assert_eq!(sessions.find(Some(&id)).unwrap().name, "ops");
        assert!(sessions.find(Some("guess")).is_none());
        assert!(sessions.find(None).is_none());
        assert!(csrf_matches(&session, Some(&session.csrf)));
        assert!(!csrf_matches(&session, Some("nope")));
        assert!(!csrf_matches(&session, None));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(sessions.find(Some(&id)).is_none(), "expired");
        let (id, _) = sessions.open("ops", ControlRole::Viewer).unwrap();
        sessions.close(Some(&id));
        assert!(sessions.find(Some(&id)).is_none(), "signed out");
    }

    #[tokio::test(start_paused = true)]
    async fn signing_in_again_and_again_ends_only_ones_own_oldest_session() {
        let sessions = Sessions::new(Duration::from_secs(600));
        let (admin, _) = sessions.open("ops", ControlRole::Admin).unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        let (first, _) = sessions.open("desk", ControlRole::Viewer).unwrap();
        for _ in 0..1_000 {
            tokio::time::advance(Duration::from_millis(1)).await;
            sessions.open("desk", ControlRole::Viewer).unwrap();
        }
        assert!(
            sessions.find(Some(&admin)).is_some(),
            "another principal's session stays"
        );
        assert!(
            sessions.find(Some(&first)).is_none(),
            "the viewer's own oldest ended"
        );
        assert_eq!(
            sessions.by_id.lock_or_recover().len(),
            MAX_SESSIONS_EACH + 1
        );
    }
}

//! Browser sessions kept in the users' database, so every instance sharing it agrees: a
//! sign-out, a "sign out everywhere" or a disabled user ends a session at the next request
//! on all of them. A session has an idle and an absolute lifetime; only a hash of its id is
//! stored, so the database does not hold what a browser presents.

use std::time::Duration;

use plba_config::ControlRole;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::AuthError;
use crate::store::{UserStore, now_ms, role_of};

/// How often a session's last activity is written at most.
const SEEN_GRANULARITY_MS: i64 = 10_000;

/// How long a session row is kept after it can no longer be used.
const KEEP_ENDED_MS: i64 = 24 * 3600 * 1000;

/// A live session, as a request finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSession {
    /// Who signed in: a user's name, or a configured token's.
    pub principal: String,
    /// What they may do now (a user's current role).
    pub role: ControlRole,
    /// The CSRF token the session's changes carry.
    pub csrf: String,
    /// Whether a user signed in (with a password or through single sign-on), not a
    /// configured token.
    pub user_backed: bool,
}

/// How long sessions last.
#[derive(Clone, Copy, Debug)]
pub struct SessionLifetimes {
    /// Without a request for this long, a session ends.
    pub idle: Duration,
    /// However active, a session ends this long after sign-in.
    pub absolute: Duration,
}

fn hash_of(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl UserStore {
    /// Opens a session for `principal` with `role` (`user_backed`: a user of this store,
    /// whose current role and state then decide) and returns its id and CSRF token.
    pub async fn open_session(
        &self,
        principal: &str,
        role: ControlRole,
        user_backed: bool,
        lifetimes: SessionLifetimes,
    ) -> Result<(String, String), AuthError> {
        let id = crate::tokens::random_hex(32)?;
        let csrf = crate::tokens::random_hex(32)?;
        let now = now_ms();
        // Sessions past use are dropped now and then, as new ones open.
        sqlx::query("DELETE FROM plba_sessions WHERE last_seen_ms < $1 OR created_ms < $2")
            .bind(now - millis(lifetimes.idle) - KEEP_ENDED_MS)
            .bind(now - millis(lifetimes.absolute) - KEEP_ENDED_MS)
            .execute(self.pool())
            .await
            .map_err(AuthError::store("did not drop old sessions"))?;
        sqlx::query(
            "INSERT INTO plba_sessions
                 (id_hash, principal, user_backed, role, csrf, created_ms, last_seen_ms, ended)
             VALUES ($1, $2, $3, $4, $5, $6, $6, 0)",
        )
        .bind(hash_of(&id))
        .bind(principal)
        .bind(i64::from(user_backed))
        .bind(role.as_str())
        .bind(&csrf)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(AuthError::store("did not open a session"))?;
        Ok((id, csrf))
    }

    /// The live session `id`: not ended, within both lifetimes, and, for a user, the user
    /// still enabled (with their role as it is now).
    pub async fn find_session(
        &self,
        id: &str,
        lifetimes: SessionLifetimes,
    ) -> Result<Option<StoredSession>, AuthError> {
        let now = now_ms();
        let row = sqlx::query(
            "SELECT s.principal, s.user_backed, s.role, s.csrf, s.last_seen_ms,
                    u.role, u.disabled
             FROM plba_sessions s LEFT JOIN plba_users u ON u.name = s.principal
             WHERE s.id_hash = $1 AND s.ended = 0 AND s.last_seen_ms > $2 AND s.created_ms > $3",
        )
        .bind(hash_of(id))
        .bind(now - millis(lifetimes.idle))
        .bind(now - millis(lifetimes.absolute))
        .fetch_optional(self.pool())
        .await
        .map_err(AuthError::store("did not answer"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let bad = || AuthError::store("holds a bad row");
        let principal: String = row.try_get(0).map_err(bad())?;
        let user_backed = row.try_get::<i64, _>(1).map_err(bad())? != 0;
        let role = if user_backed {
            let role: Option<String> = row.try_get(5).map_err(bad())?;
            let disabled: Option<i64> = row.try_get(6).map_err(bad())?;
            match (role, disabled) {
                (Some(role), Some(0)) => role_of(&principal, &role)?,
                // Gone or disabled: the session ends with the user.
                _ => return Ok(None),
            }
        } else {
            let role: String = row.try_get(2).map_err(bad())?;
            role_of(&principal, &role)?
        };
        let last_seen: i64 = row.try_get(4).map_err(bad())?;
        if now - last_seen >= SEEN_GRANULARITY_MS {
            sqlx::query("UPDATE plba_sessions SET last_seen_ms = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(hash_of(id))
                .execute(self.pool())
                .await
                .map_err(AuthError::store("did not record a session's activity"))?;
        }
        Ok(Some(StoredSession {
            principal,
            role,
            csrf: row.try_get(3).map_err(bad())?,
            user_backed,
        }))
    }

    /// Ends the session `id`.
    pub async fn end_session(&self, id: &str) -> Result<(), AuthError> {
        sqlx::query("UPDATE plba_sessions SET ended = 1 WHERE id_hash = $1")
            .bind(hash_of(id))
            .execute(self.pool())
            .await
            .map_err(AuthError::store("did not end a session"))?;
        Ok(())
    }

    /// Ends every session of `principal` ("sign out everywhere"); how many were live.
    pub async fn end_sessions_of(&self, principal: &str) -> Result<u64, AuthError> {
        Ok(
            sqlx::query("UPDATE plba_sessions SET ended = 1 WHERE principal = $1 AND ended = 0")
                .bind(principal)
                .execute(self.pool())
                .await
                .map_err(AuthError::store("did not end sessions"))?
                .rows_affected(),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const LONG: SessionLifetimes = SessionLifetimes {
        idle: Duration::from_secs(600),
        absolute: Duration::from_secs(3600),
    };

    #[tokio::test]
    async fn a_session_ends_by_sign_out_everywhere_disable_or_lifetime() {
        let dir = tempfile::tempdir().unwrap();
        let users = crate::store::test_store_with_ana(&dir, ControlRole::Operator).await;
        let (id, csrf) = users
            .open_session("ana", ControlRole::Operator, true, LONG)
            .await
            .unwrap();
        let found = users.find_session(&id, LONG).await.unwrap().unwrap();
        assert_eq!((found.principal.as_str(), found.csrf), ("ana", csrf));
        // The role is the user's as it is now.
        users.set_role("ana", ControlRole::Viewer).await.unwrap();
        assert_eq!(
            users.find_session(&id, LONG).await.unwrap().unwrap().role,
            ControlRole::Viewer
        );
        users.set_disabled("ana", true).await.unwrap();
        assert!(users.find_session(&id, LONG).await.unwrap().is_none());
        users.set_disabled("ana", false).await.unwrap();
        let (other, _) = users
            .open_session("ana", ControlRole::Viewer, true, LONG)
            .await
            .unwrap();
        // Disabling ended the first; the second ends with "sign out everywhere".
        assert_eq!(users.end_sessions_of("ana").await.unwrap(), 1);
        assert!(users.find_session(&id, LONG).await.unwrap().is_none());
        assert!(users.find_session(&other, LONG).await.unwrap().is_none());

        let (token_session, _) = users
            .open_session("ops", ControlRole::Admin, false, LONG)
            .await
            .unwrap();
        assert_eq!(
            users
                .find_session(&token_session, LONG)
                .await
                .unwrap()
                .unwrap()
                .role,
            ControlRole::Admin
        );
        users.end_session(&token_session).await.unwrap();
        assert!(
            users
                .find_session(&token_session, LONG)
                .await
                .unwrap()
                .is_none()
        );
        let (expired, _) = users
            .open_session("ops", ControlRole::Admin, false, LONG)
            .await
            .unwrap();
        let instant = SessionLifetimes {
            idle: Duration::ZERO,
            absolute: Duration::from_secs(3600),
        };
        assert!(
            users
                .find_session(&expired, instant)
                .await
                .unwrap()
                .is_none()
        );
        let database = std::fs::read(dir.path().join("users.db")).unwrap();
        assert!(
            !database.windows(id.len()).any(|w| w == id.as_bytes()),
            "a session id stored"
        );
    }
}

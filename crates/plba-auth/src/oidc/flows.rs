//! Single sign-ons under way, in the users' database so that the browser may come back to
//! any instance sharing it: each is found by its `state` together with the browser's own
//! binding (a random value in a cookie, never in a URL; both kept as hashes), used once, and
//! good for ten minutes.

use std::time::Duration;

use sqlx::Row;

use crate::store::now_ms;
use crate::tokens::hash_of;
use crate::{AuthError, UserStore};

/// How long a person has at the provider before the sign-in must start again.
pub(crate) const FLOW_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// Sign-ins under way at most: each anonymous visit to the start page makes one (the control
/// plane allows an address only a few a minute), so a flood from many addresses is turned
/// away rather than growing the table.
const MAX_FLOWS: i64 = 100_000;

/// What the browser's return must match, and where it goes afterwards.
#[derive(Debug)]
pub(crate) struct Flow {
    /// The PKCE verifier the code is exchanged with.
    pub(crate) verifier: String,
    /// The nonce the ID token must carry.
    pub(crate) nonce: String,
    /// The console page to land on.
    pub(crate) return_to: String,
}

impl UserStore {
    /// Records a sign-in under way, found again by `state` and `binding`.
    pub(crate) async fn start_flow(
        &self,
        state: &str,
        binding: &str,
        flow: Flow,
    ) -> Result<(), AuthError> {
        let now = now_ms();
        let lifetime = i64::try_from(FLOW_LIFETIME.as_millis()).unwrap_or(i64::MAX);
        sqlx::query("DELETE FROM plba_sign_in_flows WHERE created_ms < $1")
            .bind(now - lifetime)
            .execute(self.pool())
            .await
            .map_err(AuthError::store("did not drop old sign-ins"))?;
        let under_way: i64 = sqlx::query("SELECT COUNT(*) FROM plba_sign_in_flows")
            .fetch_one(self.pool())
            .await
            .and_then(|row| row.try_get(0))
            .map_err(AuthError::store("did not count sign-ins"))?;
        if under_way >= MAX_FLOWS {
            return Err(AuthError::Busy);
        }
        sqlx::query(
            "INSERT INTO plba_sign_in_flows
                (state_hash, binding_hash, verifier, nonce, return_to, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(hash_of(state))
        .bind(hash_of(binding))
        .bind(flow.verifier)
        .bind(flow.nonce)
        .bind(flow.return_to)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(AuthError::store("did not record a sign-in"))?;
        Ok(())
    }

    /// The sign-in `state` stands for, when `binding` is the browser's that started it,
    /// removed so it cannot be used twice; `None` when there is none (unknown, another
    /// browser's, used, or too old). Another browser's attempt leaves it in place.
    pub(crate) async fn take_flow(
        &self,
        state: &str,
        binding: &str,
    ) -> Result<Option<Flow>, AuthError> {
        let row = sqlx::query(
            "DELETE FROM plba_sign_in_flows WHERE state_hash = $1 AND binding_hash = $2
             RETURNING verifier, nonce, return_to, created_ms",
        )
        .bind(hash_of(state))
        .bind(hash_of(binding))
        .fetch_optional(self.pool())
        .await
        .map_err(AuthError::store("did not answer"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let bad = || AuthError::store("holds a bad sign-in");
        let created: i64 = row.try_get(3).map_err(bad())?;
        let lifetime = i64::try_from(FLOW_LIFETIME.as_millis()).unwrap_or(i64::MAX);
        if now_ms() - created > lifetime {
            return Ok(None);
        }
        Ok(Some(Flow {
            verifier: row.try_get(0).map_err(bad())?,
            nonce: row.try_get(1).map_err(bad())?,
            return_to: row.try_get(2).map_err(bad())?,
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::test_store;

    fn flow() -> Flow {
        Flow {
            verifier: "v".to_owned(),
            nonce: "n".to_owned(),
            return_to: "queues".to_owned(),
        }
    }

    #[tokio::test]
    async fn a_sign_in_is_taken_once_and_only_by_the_browser_that_started_it() {
        let dir = tempfile::tempdir().unwrap();
        let users = test_store(&dir).await;
        users
            .start_flow("state-1", "binding-1", flow())
            .await
            .unwrap();
        assert!(
            users
                .take_flow("state-1", "another-browser")
                .await
                .unwrap()
                .is_none()
        );
        let taken = users
            .take_flow("state-1", "binding-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(taken.return_to, "queues");
        assert!(
            users
                .take_flow("state-1", "binding-1")
                .await
                .unwrap()
                .is_none(),
            "used once"
        );
        assert!(
            users
                .take_flow("unknown", "binding-1")
                .await
                .unwrap()
                .is_none()
        );
    }
}

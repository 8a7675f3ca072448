//! The record of changes to users and their tokens, in the users' database: the command
//! line and every instance sharing the database write to it, so `/audit` shows a change
//! whoever made it and wherever.

use serde::Serialize;
use sqlx::Row;

use crate::store::now_ms;
use crate::{AuthError, UserStore};

/// Changes kept: older ones are dropped as new ones are recorded.
const KEPT: i64 = 10_000;

/// One change to a user or a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserChange {
    /// When (unix milliseconds).
    pub at_ms: i64,
    /// Who made it: a user, a user's token, a configured token, or the command line.
    pub actor: String,
    /// From which address, when it came over the network.
    pub client: Option<String>,
    /// What (`add-user`, `disable-user`, `create-token`, …).
    pub action: String,
    /// To whom (`ana`, `ana: token ci`).
    pub subject: String,
}

impl UserStore {
    /// Records that `actor` (from `client`) did `action` to `subject`.
    pub async fn record_change(
        &self,
        actor: &str,
        client: Option<String>,
        action: &str,
        subject: &str,
    ) -> Result<(), AuthError> {
        sqlx::query(
            "INSERT INTO plba_user_changes (at_ms, actor, client, action, subject)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(now_ms())
        .bind(actor.to_owned())
        .bind(client)
        .bind(action.to_owned())
        .bind(subject.to_owned())
        .execute(self.pool())
        .await
        .map_err(AuthError::store("did not record a change"))?;
        sqlx::query(
            "DELETE FROM plba_user_changes WHERE at_ms < (
                SELECT at_ms FROM plba_user_changes ORDER BY at_ms DESC LIMIT 1 OFFSET $1)",
        )
        .bind(KEPT - 1)
        .execute(self.pool())
        .await
        .map_err(AuthError::store("did not drop old changes"))?;
        Ok(())
    }

    /// The newest `limit` changes to users' tokens (`tokens`) or, apart, to users, newest
    /// first: apart, so that making and revoking tokens, which every user may do, cannot
    /// push a change of role or a disable out of view.
    pub async fn recent_changes(
        &self,
        limit: usize,
        tokens: bool,
    ) -> Result<Vec<UserChange>, AuthError> {
        let sql = if tokens {
            "SELECT at_ms, actor, client, action, subject FROM plba_user_changes
             WHERE action IN ('create-token', 'revoke-token') ORDER BY at_ms DESC LIMIT $1"
        } else {
            "SELECT at_ms, actor, client, action, subject FROM plba_user_changes
             WHERE action NOT IN ('create-token', 'revoke-token') ORDER BY at_ms DESC LIMIT $1"
        };
        let rows = sqlx::query(sql)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.pool())
            .await
            .map_err(AuthError::store("did not answer"))?;
        let bad = || AuthError::store("holds a bad change");
        rows.iter()
            .map(|row| {
                Ok(UserChange {
                    at_ms: row.try_get(0).map_err(bad())?,
                    actor: row.try_get(1).map_err(bad())?,
                    client: row.try_get(2).map_err(bad())?,
                    action: row.try_get(3).map_err(bad())?,
                    subject: row.try_get(4).map_err(bad())?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::store::test_store;

    #[tokio::test]
    async fn changes_are_kept_newest_first_with_who_and_where() {
        let dir = tempfile::tempdir().unwrap();
        let users = test_store(&dir).await;
        users
            .record_change("root (command line)", None, "add-user", "ana")
            .await
            .unwrap();
        users
            .record_change("carol", Some("10.0.0.7".to_owned()), "disable-user", "ana")
            .await
            .unwrap();
        for n in 0..5 {
            let subject = format!("carol: token t{n}");
            users
                .record_change("carol", None, "create-token", &subject)
                .await
                .unwrap();
        }
        let changes = users.recent_changes(10, false).await.unwrap();
        assert_eq!(changes.len(), 2);
        assert!(changes[0].at_ms >= changes[1].at_ms);
        let disabled = changes.iter().find(|c| c.action == "disable-user").unwrap();
        assert_eq!(
            (disabled.actor.as_str(), disabled.client.as_deref()),
            ("carol", Some("10.0.0.7"))
        );
        // Tokens have a window of their own: many of them push no change of a user out.
        assert_eq!(users.recent_changes(3, true).await.unwrap().len(), 3);
        assert_eq!(users.recent_changes(1, false).await.unwrap().len(), 1);
    }
}

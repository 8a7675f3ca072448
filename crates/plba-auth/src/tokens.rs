//! API tokens per user: made with a name and an expiry, shown once, kept only as a SHA-256
//! hash (a token is 32 random bytes: no password hash is needed against guessing), found by
//! the visible id in its prefix, revocable, with their last use recorded.
//!
//! A token reads `plba_<id>_<secret>`: `<id>` (8 hex digits) names it in lists and logs,
//! `<secret>` (64 hex digits) is what proves it.

use std::time::Duration;

use plba_contracts::Secret;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

use crate::AuthError;
use crate::store::{User, UserStore, now_ms};

/// What every token starts with, so a leaked one is recognisable (and found by scanners).
pub const TOKEN_PREFIX: &str = "plba_";

/// How often a token's last use is written at most: a busy client does not write on every
/// request.
const LAST_USE_GRANULARITY_MS: i64 = 60_000;

/// A token as lists show it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The visible id (`plba_<id>_…`).
    pub id: String,
    /// Whose token it is.
    pub user: String,
    /// Its name, given by whoever made it.
    pub name: String,
    /// When it was made (unix milliseconds).
    pub created_ms: i64,
    /// When it stops working (unix milliseconds).
    pub expires_ms: i64,
    /// When it was last used, to the minute.
    pub last_used_ms: Option<i64>,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// A token just made: the only time its whole text exists outside its holder.
#[derive(Debug)]
pub struct NewToken {
    /// The token itself, to hand over once (never printed by `Debug`).
    pub token: Secret<String>,
    /// What lists will show of it.
    pub info: TokenInfo,
}

/// Live tokens a user may hold at once: enough for every machine and script they run, few
/// enough that nobody fills the database or the audit with them.
const MAX_LIVE_TOKENS: i64 = 50;

/// Revoked and expired tokens kept per user, for their list.
const KEPT_DEAD_TOKENS: i64 = 100;

pub(crate) fn hash_of(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn random_hex(bytes: usize) -> Result<String, AuthError> {
    let mut buffer = vec![0_u8; bytes];
    getrandom::fill(&mut buffer).map_err(|error| AuthError::Hash(error.to_string()))?;
    Ok(hex::encode(buffer))
}

/// The token `id` of a row whose columns 1 to 6 are `user_name, name, created_ms,
/// expires_ms, last_used_ms, revoked`.
fn token_info(id: String, row: &sqlx::any::AnyRow) -> Result<TokenInfo, AuthError> {
    let bad = || AuthError::store("holds a bad row");
    Ok(TokenInfo {
        id,
        user: row.try_get(1).map_err(bad())?,
        name: row.try_get(2).map_err(bad())?,
        created_ms: row.try_get(3).map_err(bad())?,
        expires_ms: row.try_get(4).map_err(bad())?,
        last_used_ms: row.try_get(5).map_err(bad())?,
        revoked: row.try_get::<i64, _>(6).map_err(bad())? != 0,
    })
}

/// The id of a token's text, when it has the shape of one.
fn id_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 8) && hex(secret, 64)).then_some(id)
}

impl UserStore {
    /// Makes a token named `name` for `user`, good for `lifetime`.
    pub async fn add_token(
        &self,
        user: &str,
        name: &str,
        lifetime: Duration,
    ) -> Result<NewToken, AuthError> {
        if self.user(user).await?.is_none() {
            return Err(AuthError::NotFound(user.to_owned()));
        }
        crate::store::check_token_name(name)?;
        let now = now_ms();
        let live: i64 = sqlx::query(
            "SELECT COUNT(*) FROM plba_user_tokens
             WHERE user_name = $1 AND revoked = 0 AND expires_ms > $2",
        )
        .bind(user.to_owned())
        .bind(now)
        .fetch_one(self.pool())
        .await
        .and_then(|row| row.try_get(0))
        .map_err(AuthError::store("did not count tokens"))?;
        if live >= MAX_LIVE_TOKENS {
            return Err(AuthError::TooManyTokens {
                user: user.to_owned(),
                max: MAX_LIVE_TOKENS,
            });
        }
        // Revoked and expired tokens stay listed, the newest of them only.
        sqlx::query(
            "DELETE FROM plba_user_tokens
             WHERE user_name = $1 AND (revoked = 1 OR expires_ms <= $2) AND id NOT IN (
                 SELECT id FROM plba_user_tokens
                 WHERE user_name = $1 AND (revoked = 1 OR expires_ms <= $2)
                 ORDER BY created_ms DESC LIMIT $3)",
        )
        .bind(user.to_owned())
        .bind(now)
        .bind(KEPT_DEAD_TOKENS)
        .execute(self.pool())
        .await
        .map_err(AuthError::store("did not drop old tokens"))?;
        let id = random_hex(4)?;
        let token = format!("{TOKEN_PREFIX}{id}_{}", random_hex(32)?);
        let lifetime_ms = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
        let expires_ms = now.saturating_add(lifetime_ms);
        sqlx::query(
            "INSERT INTO plba_user_tokens
                 (id, user_name, name, hash, created_ms, expires_ms, last_used_ms, revoked)
             VALUES ($1, $2, $3, $4, $5, $6, NULL, 0)",
        )
        .bind(&id)
        .bind(user)
        .bind(name)
        .bind(hash_of(&token))
        .bind(now)
        .bind(expires_ms)
        .execute(self.pool())
        .await
        .map_err(AuthError::store("did not store a token"))?;
        Ok(NewToken {
            token: Secret::new(token),
            info: TokenInfo {
                id,
                user: user.to_owned(),
                name: name.to_owned(),
                created_ms: now,
                expires_ms,
                last_used_ms: None,
                revoked: false,
            },
        })
    }

    /// The tokens of `user` (every user's with `None`), newest first.
    pub async fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenInfo>, AuthError> {
        let rows = sqlx::query(
            "SELECT id, user_name, name, created_ms, expires_ms, last_used_ms, revoked
             FROM plba_user_tokens WHERE ($1 = '' OR user_name = $1)
             ORDER BY created_ms DESC, id",
        )
        .bind(user.unwrap_or(""))
        .fetch_all(self.pool())
        .await
        .map_err(AuthError::store("did not answer"))?;
        rows.iter()
            .map(|row| {
                let id = row
                    .try_get(0)
                    .map_err(AuthError::store("holds a bad row"))?;
                token_info(id, row)
            })
            .collect()
    }

    /// Revokes the token `id` of `user`: it stops working at once, on every instance. The
    /// token as it is now (its name, for the audit).
    pub async fn revoke_token(&self, user: &str, id: &str) -> Result<TokenInfo, AuthError> {
        let revoked =
            sqlx::query("UPDATE plba_user_tokens SET revoked = 1 WHERE id = $1 AND user_name = $2")
                .bind(id)
                .bind(user)
                .execute(self.pool())
                .await
                .map_err(AuthError::store("did not revoke a token"))?
                .rows_affected();
        if revoked == 0 {
            return Err(AuthError::NoToken(id.to_owned()));
        }
        self.tokens(Some(user))
            .await?
            .into_iter()
            .find(|token| token.id == id)
            .ok_or_else(|| AuthError::NoToken(id.to_owned()))
    }

    /// The user and the token's name behind `token`, when it is a live token of an enabled
    /// user; `None` otherwise.
    pub async fn authenticate_token(
        &self,
        token: &str,
    ) -> Result<Option<(User, TokenInfo)>, AuthError> {
        let Some(id) = id_of(token) else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT hash, user_name, name, created_ms, expires_ms, last_used_ms, revoked
             FROM plba_user_tokens WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(AuthError::store("did not answer"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let bad = || AuthError::store("holds a bad row");
        let stored: String = row.try_get(0).map_err(bad())?;
        if !bool::from(stored.as_bytes().ct_eq(hash_of(token).as_bytes())) {
            return Ok(None);
        }
        let info = token_info(id.to_owned(), &row)?;
        let now = now_ms();
        if info.revoked || info.expires_ms <= now {
            return Ok(None);
        }
        let Some(user) = self.user(&info.user).await?.filter(|user| !user.disabled) else {
            return Ok(None);
        };
        if info
            .last_used_ms
            .is_none_or(|last| now - last >= LAST_USE_GRANULARITY_MS)
        {
            sqlx::query("UPDATE plba_user_tokens SET last_used_ms = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(self.pool())
                .await
                .map_err(AuthError::store("did not record a token's use"))?;
        }
        Ok(Some((user, info)))
    }
}

/// Whether `token` has the shape of a user's token (`plba_<id>_<secret>`), so a caller can
/// tell it from a configured token without asking the database.
pub fn is_user_token(token: &str) -> bool {
    id_of(token).is_some()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use plba_config::ControlRole;

    use super::*;

    #[tokio::test]
    async fn a_user_holds_at_most_fifty_live_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let users = crate::store::test_store_with_ana(&dir, ControlRole::Viewer).await;
        let hour = Duration::from_secs(3600);
        let mut first = None;
        for n in 0..MAX_LIVE_TOKENS {
            let made = users
                .add_token("ana", &format!("t{n}"), hour)
                .await
                .unwrap();
            first.get_or_insert(made.info.id);
        }
        assert!(matches!(
            users.add_token("ana", "one more", hour).await,
            Err(AuthError::TooManyTokens { .. })
        ));
        let revoked = users.revoke_token("ana", &first.unwrap()).await.unwrap();
        assert_eq!((revoked.name.as_str(), revoked.revoked), ("t0", true));
        users.add_token("ana", "one more", hour).await.unwrap();
    }

    #[tokio::test]
    async fn a_token_works_until_revoked_expired_or_its_user_disabled() {
        let dir = tempfile::tempdir().unwrap();
        let users = crate::store::test_store_with_ana(&dir, ControlRole::Operator).await;
        let made = users
            .add_token("ana", "ci", Duration::from_secs(3600))
            .await
            .unwrap();
        let token = made.token.expose().clone();
        assert!(is_user_token(&token), "{token}");
        assert!(token.starts_with(&format!("plba_{}_", made.info.id)));
        let (user, info) = users.authenticate_token(&token).await.unwrap().unwrap();
        assert_eq!((user.name.as_str(), info.name.as_str()), ("ana", "ci"));
        assert!(
            users.tokens(Some("ana")).await.unwrap()[0]
                .last_used_ms
                .is_some()
        );
        // One hex digit changed: the last, to another digit whatever it was.
        let other = if token.ends_with('0') { '1' } else { '0' };
        let forged = format!("{}{other}", &token[..token.len() - 1]);
        assert!(users.authenticate_token(&forged).await.unwrap().is_none());

        users.set_disabled("ana", true).await.unwrap();
        assert!(users.authenticate_token(&token).await.unwrap().is_none());
        users.set_disabled("ana", false).await.unwrap();
        users.revoke_token("ana", &made.info.id).await.unwrap();
        assert!(users.authenticate_token(&token).await.unwrap().is_none());

        let short = users
            .add_token("ana", "short", Duration::ZERO)
            .await
            .unwrap();
        assert!(
            users
                .authenticate_token(short.token.expose())
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            users.add_token("nobody", "x", Duration::from_secs(1)).await,
            Err(AuthError::NotFound(_))
        ));
        // The database holds no token's text.
        let database = std::fs::read(dir.path().join("users.db")).unwrap();
        assert!(!database.windows(token.len()).any(|w| w == token.as_bytes()));
    }
}

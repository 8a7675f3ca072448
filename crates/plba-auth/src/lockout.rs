//! Locking an account after repeated wrong passwords: a guesser who spreads attempts over
//! many addresses still meets a limit per account. Only known accounts are tracked, so
//! random names cannot grow the table.

use std::time::Duration;

use sqlx::Row;

use crate::AuthError;
use crate::store::{User, UserStore, now_ms};

/// When an account locks, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Wrong passwords within `window` that lock the account (0: never).
    pub failures: u32,
    /// The window they are counted in.
    pub window: Duration,
    /// How long the account stays locked.
    pub lock: Duration,
}

/// What a sign-in with a password found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignIn {
    /// The password is right, the user enabled and not locked.
    Accepted(User),
    /// Wrong password, unknown or disabled user.
    Refused,
    /// This wrong password locked the account (until the given unix milliseconds).
    LockedNow {
        /// Until when.
        until_ms: i64,
    },
    /// The account is locked; the password was not looked at.
    Locked {
        /// Until when.
        until_ms: i64,
    },
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl UserStore {
    /// Signs `name` in with `password` under `policy`: a right password clears the
    /// account's failures; a wrong one counts, and the one that reaches the limit locks the
    /// account for `policy.lock`. A locked account is refused, whatever the password, after
    /// the same work as a check.
    pub async fn sign_in(
        &self,
        name: &str,
        password: &str,
        policy: LockoutPolicy,
    ) -> Result<SignIn, AuthError> {
        let now = now_ms();
        let row = sqlx::query("SELECT locked_until_ms FROM plba_user_failures WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(AuthError::store("did not answer"))?;
        let bad = || AuthError::store("holds a bad row");
        let locked_until = match &row {
            Some(row) => row.try_get::<i64, _>(0).map_err(bad())?,
            None => 0,
        };
        if locked_until > now {
            // The same cost as a check, so a locked account does not answer faster.
            let _ = self.authenticate("", password).await?;
            return Ok(SignIn::Locked {
                until_ms: locked_until,
            });
        }
        let known = policy.failures > 0 && self.user(name).await?.is_some();
        if !known {
            return Ok(match self.authenticate(name, password).await? {
                Some(user) => SignIn::Accepted(user),
                None => SignIn::Refused,
            });
        }
        // The attempt is counted, in one statement, before the password is checked: of
        // attempts sent at once, no more than the limit are checked.
        let counted = sqlx::query(
            "INSERT INTO plba_user_failures (name, window_start_ms, failures, locked_until_ms)
             VALUES ($1, $2, 1, 0)
             ON CONFLICT (name) DO UPDATE SET
                 failures = CASE WHEN plba_user_failures.window_start_ms < $3 THEN 1
                                 ELSE plba_user_failures.failures + 1 END,
                 window_start_ms = CASE WHEN plba_user_failures.window_start_ms < $3 THEN $2
                                        ELSE plba_user_failures.window_start_ms END
             RETURNING failures",
        )
        .bind(name)
        .bind(now)
        .bind(now.saturating_sub(millis(policy.window)))
        .fetch_one(self.pool())
        .await
        .map_err(AuthError::store("did not count an attempt"))?;
        let attempts: i64 = counted.try_get(0).map_err(bad())?;
        let limit = i64::from(policy.failures);
        let until = now.saturating_add(millis(policy.lock));
        if attempts > limit {
            self.record_failures(name, now, 0, until).await?;
            let _ = self.authenticate("", password).await?;
            return Ok(SignIn::LockedNow { until_ms: until });
        }
        if let Some(user) = self.authenticate(name, password).await? {
            sqlx::query("DELETE FROM plba_user_failures WHERE name = $1")
                .bind(name)
                .execute(self.pool())
                .await
                .map_err(AuthError::store("did not clear failures"))?;
            return Ok(SignIn::Accepted(user));
        }
        if attempts < limit {
            return Ok(SignIn::Refused);
        }
        // This wrong password reached the limit: the account locks now.
        self.record_failures(name, now, 0, until).await?;
        Ok(SignIn::LockedNow { until_ms: until })
    }

    async fn record_failures(
        &self,
        name: &str,
        window_start: i64,
        failures: i64,
        locked_until: i64,
    ) -> Result<(), AuthError> {
        sqlx::query(
            "INSERT INTO plba_user_failures (name, window_start_ms, failures, locked_until_ms)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET window_start_ms = $2, failures = $3, locked_until_ms = $4",
        )
        .bind(name)
        .bind(window_start)
        .bind(failures)
        .bind(locked_until)
        .execute(self.pool())
        .await
        .map_err(AuthError::store("did not count a failure"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use plba_config::ControlRole;

    use super::*;

    #[tokio::test]
    async fn the_third_wrong_password_locks_the_account_even_for_the_right_one() {
        let dir = tempfile::tempdir().unwrap();
        let users = crate::store::test_store_with_ana(&dir, ControlRole::Viewer).await;
        let policy = LockoutPolicy {
            failures: 3,
            window: Duration::from_secs(300),
            lock: Duration::from_secs(900),
        };
        let right = "a long enough password";
        assert_eq!(
            users.sign_in("ana", "wrong one", policy).await.unwrap(),
            SignIn::Refused
        );
        // A right password clears the count.
        assert!(matches!(
            users.sign_in("ana", right, policy).await.unwrap(),
            SignIn::Accepted(_)
        ));
        for _ in 0..2 {
            assert_eq!(
                users.sign_in("ana", "wrong one", policy).await.unwrap(),
                SignIn::Refused
            );
        }
        assert!(matches!(
            users.sign_in("ana", "wrong one", policy).await.unwrap(),
            SignIn::LockedNow { .. }
        ));
        assert!(matches!(
            users.sign_in("ana", right, policy).await.unwrap(),
            SignIn::Locked { .. }
        ));
        // Unknown names are not tracked: nothing to lock, nothing stored.
        for _ in 0..5 {
            assert_eq!(
                users.sign_in("zoe", "guess", policy).await.unwrap(),
                SignIn::Refused
            );
        }
        // A lock ends when its time is up.
        users
            .add("bob", ControlRole::Viewer, "bob's long password")
            .await
            .unwrap();
        let short = LockoutPolicy {
            lock: Duration::ZERO,
            ..policy
        };
        for _ in 0..3 {
            let _ = users.sign_in("bob", "wrong one", short).await.unwrap();
        }
        assert!(matches!(
            users
                .sign_in("bob", "bob's long password", short)
                .await
                .unwrap(),
            SignIn::Accepted(_)
        ));
    }
}

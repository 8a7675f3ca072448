//! Single-sign-on users: each is linked to their provider's `(issuer, subject)`, made at
//! their first sign-in and given the role their claim maps to at every sign-in.

use plba_config::ControlRole;
use sqlx::Row;

use crate::store::{check_name, now_ms};
use crate::{AuthError, User, UserStore};

/// What stands in a single-sign-on user's password hash: no password matches it.
const NO_PASSWORD: &str = "!single-sign-on";

/// Who the provider says signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The provider (its issuer URL).
    pub issuer: String,
    /// Their id at the provider, which never changes.
    pub subject: String,
    /// The user name they get here (from the configured name claim).
    pub name: String,
    /// The role their claim maps to; `None` lets them in nowhere.
    pub role: Option<ControlRole>,
    /// The claim the role was read from, for the refusal's words.
    pub claim: String,
}

impl UserStore {
    /// Signs `identity` in: the user linked to it, made at the first sign-in, with the
    /// role of the claim. A claim that maps to no role disables a known user (their
    /// sessions and tokens stop) until a later sign-in maps to one again; a user an
    /// administrator disabled stays disabled.
    pub async fn sign_in_identity(&self, identity: &Identity) -> Result<User, AuthError> {
        let linked = sqlx::query(
            "SELECT user_name, no_role FROM plba_user_identities WHERE issuer = $1 AND subject = $2",
        )
        .bind(identity.issuer.clone())
        .bind(identity.subject.clone())
        .fetch_optional(self.pool())
        .await
        .map_err(AuthError::store("did not answer"))?;
        let linked: Option<(String, bool)> = linked
            .map(|row| {
                let name: String = row.try_get(0)?;
                let no_role: i64 = row.try_get(1)?;
                Ok::<_, sqlx::Error>((name, no_role != 0))
            })
            .transpose()
            .map_err(AuthError::store("holds a bad identity"))?;
        match (linked, identity.role) {
            (None, None) => Err(no_role(&identity.name, identity)),
            (None, Some(role)) => self.add_identity(identity, role).await,
            (Some((name, _)), None) => {
                self.mark_no_role(identity, true).await?;
                self.set_disabled(&name, true).await?;
                Err(no_role(&name, identity))
            }
            (Some((name, was_without_role)), Some(role)) => {
                let user = self
                    .user(&name)
                    .await?
                    .ok_or_else(|| AuthError::NotFound(name.clone()))?;
                if user.disabled && !was_without_role {
                    return Err(AuthError::Disabled(name));
                }
                if user.disabled {
                    self.mark_no_role(identity, false).await?;
                    self.set_disabled(&name, false).await?;
                }
                self.set_role(&name, role).await
            }
        }
    }

    /// Whether `name` has a password here (a user who signs in through single sign-on has
    /// none: their password is the provider's).
    pub async fn has_password(&self, name: &str) -> Result<bool, AuthError> {
        let row = sqlx::query("SELECT password_hash FROM plba_users WHERE name = $1")
            .bind(name.to_owned())
            .fetch_optional(self.pool())
            .await
            .map_err(AuthError::store("did not answer"))?;
        let hash: Option<String> = row
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(AuthError::store("holds a bad row"))?;
        Ok(hash.is_some_and(|hash| hash != NO_PASSWORD))
    }

    async fn add_identity(
        &self,
        identity: &Identity,
        role: ControlRole,
    ) -> Result<User, AuthError> {
        check_name(&identity.name)?;
        if self.same_name(&identity.name).await?.is_some() {
            return Err(AuthError::NameTaken(identity.name.clone()));
        }
        let now = now_ms();
        let added = sqlx::query(
            "INSERT INTO plba_users (name, password_hash, role, disabled, created_ms, updated_ms)
             VALUES ($1, $2, $3, 0, $4, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(identity.name.clone())
        .bind(NO_PASSWORD)
        .bind(role.as_str())
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(AuthError::store("did not add a user"))?
        .rows_affected();
        if added == 0 {
            return Err(AuthError::NameTaken(identity.name.clone()));
        }
        sqlx::query(
            "INSERT INTO plba_user_identities (issuer, subject, user_name, no_role)
             VALUES ($1, $2, $3, 0)",
        )
        .bind(identity.issuer.clone())
        .bind(identity.subject.clone())
        .bind(identity.name.clone())
        .execute(self.pool())
        .await
        .map_err(AuthError::store("did not link a user to their provider"))?;
        self.user(&identity.name)
            .await?
            .ok_or_else(|| AuthError::NotFound(identity.name.clone()))
    }

    async fn mark_no_role(&self, identity: &Identity, no_role: bool) -> Result<(), AuthError> {
        sqlx::query(
            "UPDATE plba_user_identities SET no_role = $1 WHERE issuer = $2 AND subject = $3",
        )
        .bind(i64::from(no_role))
        .bind(identity.issuer.clone())
        .bind(identity.subject.clone())
        .execute(self.pool())
        .await
        .map_err(AuthError::store("did not change a user's provider link"))?;
        Ok(())
    }
}

fn no_role(name: &str, identity: &Identity) -> AuthError {
    AuthError::NoRole {
        name: name.to_owned(),
        claim: identity.claim.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::test_store;

    fn ana(role: Option<ControlRole>) -> Identity {
        Identity {
            issuer: "https://id.example.com".to_owned(),
            subject: "sub-1".to_owned(),
            name: "ana".to_owned(),
            role,
            claim: "groups".to_owned(),
        }
    }

    #[tokio::test]
    async fn a_person_is_made_a_user_and_follows_their_claim() {
        let dir = tempfile::tempdir().unwrap();
        let users = test_store(&dir).await;
        assert!(matches!(
            users.sign_in_identity(&ana(None)).await,
            Err(AuthError::NoRole { .. })
        ));
        assert!(users.list().await.unwrap().is_empty(), "nobody made");
        let made = users
            .sign_in_identity(&ana(Some(ControlRole::Viewer)))
            .await
            .unwrap();
        assert_eq!(
            (made.name.as_str(), made.role),
            ("ana", ControlRole::Viewer)
        );
        // No password opens the account.
        assert!(
            users
                .authenticate("ana", NO_PASSWORD)
                .await
                .unwrap()
                .is_none()
        );
        let promoted = users
            .sign_in_identity(&ana(Some(ControlRole::Admin)))
            .await
            .unwrap();
        assert_eq!(promoted.role, ControlRole::Admin);
        // Losing the role disables; getting one back enables.
        assert!(users.sign_in_identity(&ana(None)).await.is_err());
        assert!(users.user("ana").await.unwrap().unwrap().disabled);
        let back = users
            .sign_in_identity(&ana(Some(ControlRole::Operator)))
            .await
            .unwrap();
        assert!(!back.disabled);
        // An administrator's disable holds.
        users.set_disabled("ana", true).await.unwrap();
        assert!(matches!(
            users
                .sign_in_identity(&ana(Some(ControlRole::Operator)))
                .await,
            Err(AuthError::Disabled(_))
        ));
    }

    #[tokio::test]
    async fn a_local_users_name_is_not_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let users = test_store(&dir).await;
        users
            .add("ana", ControlRole::Admin, "a long enough password")
            .await
            .unwrap();
        assert!(matches!(
            users
                .sign_in_identity(&ana(Some(ControlRole::Viewer)))
                .await,
            Err(AuthError::NameTaken(_))
        ));
        let capitalised = Identity {
            name: "ANA".to_owned(),
            ..ana(Some(ControlRole::Viewer))
        };
        assert!(matches!(
            users.sign_in_identity(&capitalised).await,
            Err(AuthError::NameTaken(_))
        ));
        assert_eq!(
            users.user("ana").await.unwrap().unwrap().role,
            ControlRole::Admin
        );
    }
}

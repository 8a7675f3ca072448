//! Passwords as Argon2id PHC strings: hashed with a fresh salt, verified in time that does
//! not tell a wrong password from an unknown user, and rehashed when the parameters change.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use password_hash::rand_core::OsRng;

use crate::AuthError;

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The longest password accepted, in bytes: hashing is costly, so no caller makes the
/// server hash megabytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The hasher every new hash is made with (OWASP's Argon2id baseline: 19 MiB, 2 passes,
/// 1 lane).
fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Checks a new password: long enough, not too long, no control characters.
pub fn check_new(password: &str) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword(format!(
            "it has {chars} characters; at least {MIN_PASSWORD_CHARS} are needed"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AuthError::WeakPassword(format!(
            "it is longer than {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    if password.chars().any(char::is_control) {
        return Err(AuthError::WeakPassword(
            "it holds control characters".to_owned(),
        ));
    }
    Ok(())
}

/// The PHC string of `password` with a fresh salt.
pub fn hash(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| AuthError::Hash(error.to_string()))
}

/// What checking a password against a stored hash found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// It matches, and the hash is made with today's parameters.
    Valid,
    /// It matches; here is a hash with today's parameters to store instead.
    ValidRehashed(String),
    /// It does not match (or the stored hash is not one).
    Invalid,
}

/// Checks `password` against `stored`. With `None` (no such user) a hash of the same cost
/// is checked anyway, so the answer takes about as long either way.
pub fn verify(password: &str, stored: Option<&str>) -> Checked {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("not the password of anyone").unwrap_or_default());
    // A user without a password (one who signs in through single sign-on) is checked
    // against the dummy hash too, so the answer takes the same time.
    let stored = stored.and_then(|stored| PasswordHash::new(stored).ok());
    let known = stored.is_some();
    let Some(parsed) = stored.or_else(|| PasswordHash::new(dummy).ok()) else {
        return Checked::Invalid;
    };
    if password.len() > MAX_PASSWORD_BYTES {
        return Checked::Invalid;
    }
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    if !(matches && known) {
        return Checked::Invalid;
    }
    let current = Params::default();
    let same = parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed).is_ok_and(|params| {
            params.m_cost() == current.m_cost()
                && params.t_cost() == current.t_cost()
                && params.p_cost() == current.p_cost()
        });
    if same {
        Checked::Valid
    } else {
        match hash(password) {
            Ok(rehashed) => Checked::ValidRehashed(rehashed),
            // The password is right; keeping the old hash is better than refusing it.
            Err(_) => Checked::Valid,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let stored = hash("correct horse battery staple").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert_eq!(
            verify("correct horse battery staple", Some(&stored)),
            Checked::Valid
        );
        assert_eq!(
            verify("correct horse battery stapler", Some(&stored)),
            Checked::Invalid
        );
        assert_eq!(
            verify("correct horse battery staple", None),
            Checked::Invalid
        );
        assert_eq!(verify("x", Some("not a PHC string")), Checked::Invalid);
    }

    #[test]
    fn a_hash_with_older_parameters_is_rehashed_at_sign_in() {
        let salt = SaltString::generate(&mut OsRng);
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
        )
        .hash_password(b"an older password hash", &salt)
        .unwrap()
        .to_string();
        match verify("an older password hash", Some(&weak)) {
            Checked::ValidRehashed(new) => {
                assert!(new.contains("m=19456,t=2,p=1"), "{new}");
                assert_eq!(verify("an older password hash", Some(&new)), Checked::Valid);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn weak_passwords_are_refused_with_the_reason() {
        assert!(check_new("short").unwrap_err().to_string().contains("12"));
        assert!(check_new("twelve chars!").is_ok());
        assert!(check_new("tab\tinside the password").is_err());
        assert!(check_new(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
    }
}

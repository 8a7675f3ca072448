//! Bearer tokens: who is calling and what they may do.

use base64::Engine;
use plba_config::{ControlRole, ControlToken};
use plba_contracts::Secret;

/// The identity behind a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    /// No `Authorization` header (or not a bearer one).
    Anonymous,
    /// A bearer token that matches no configured token.
    Unknown,
    /// A configured token, or a signed-in user.
    Known {
        /// The token's or the user's name (for the audit log).
        name: String,
        /// Its role.
        role: ControlRole,
        /// Whose account it acts for.
        account: Account,
    },
    /// A user name and a password presented to sign in, not checked yet (checking costs an
    /// Argon2 hash, so it runs with the sign-in, after the cheap refusals).
    Password {
        /// The user name presented.
        name: String,
        /// The password presented.
        password: Secret<String>,
    },
}

/// The account a known caller acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Account {
    /// A token of the configuration (or a session it opened): nobody's account.
    Configured,
    /// A user of the users' database.
    User {
        /// The user's name.
        name: String,
        /// Signed in in a browser (a session), rather than calling with one of their API
        /// tokens: only a session may make tokens or change the password, so a leaked
        /// token cannot make itself a successor.
        by_session: bool,
    },
}

impl Caller {
    /// The user a caller acts for, and whether through a session.
    pub(crate) fn user(&self) -> Option<(&str, bool)> {
        match self {
            Self::Known {
                account: Account::User { name, by_session },
                ..
            } => Some((name, *by_session)),
            _ => None,
        }
    }

    /// The name the audit log shows.
    pub(crate) fn audit_name(&self) -> &str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Unknown => "unknown-token",
            Self::Known { name, .. } | Self::Password { name, .. } => name,
        }
    }
}

/// The longest user name or password a `Basic` header may carry, in bytes.
const MAX_BASIC_BYTES: usize = 2048;

/// The user name and password of a `Basic` `Authorization` header (RFC 7617); `None` for
/// any other scheme, a value that is not base64 of `name:password`, or one too long.
pub(crate) fn basic(header: &str) -> Option<(String, Secret<String>)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || encoded.len() > MAX_BASIC_BYTES {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (name, password) = text.split_once(':')?;
    (!name.is_empty() && !password.is_empty())
        .then(|| (name.to_owned(), Secret::new(password.to_owned())))
}

/// Compares in time that depends only on the lengths, never on where the bytes differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        difference |= usize::from(x ^ y);
    }
    difference == 0
}

/// Identifies the caller from an `Authorization` header value. Every configured token is
/// compared, matching or not, so timing does not reveal which one matched.
pub(crate) fn identify(tokens: &[ControlToken], authorization: Option<&str>) -> Caller {
    let Some(presented) = authorization.and_then(bearer) else {
        return Caller::Anonymous;
    };
    let mut found = None;
    for token in tokens {
        if constant_time_eq(token.token.expose().as_bytes(), presented.as_bytes())
            && found.is_none()
        {
            found = Some(token);
        }
    }
    match found {
        Some(token) => Caller::Known {
            name: token.name.clone(),
            role: token.role,
            account: Account::Configured,
        },
        None => Caller::Unknown,
    }
}

/// The token of a `Bearer` `Authorization` header; `None` for any other scheme.
pub(crate) fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_read_and_anything_else_is_not() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("ana:pass:word");
        let (name, password) = basic(&format!("Basic {encoded}")).unwrap();
        assert_eq!(
            (name.as_str(), password.expose().as_str()),
            ("ana", "pass:word")
        );
        assert!(basic("Bearer abc").is_none());
        assert!(basic("Basic not-base64!").is_none());
        let empty = base64::engine::general_purpose::STANDARD.encode("ana:");
        assert!(basic(&format!("Basic {empty}")).is_none());
    }

    fn tokens() -> Vec<ControlToken> {
        vec![
            ControlToken {
                name: "ops".into(),
                token: Secret::new("admin-secret".into()),
                role: ControlRole::Admin,
            },
            ControlToken {
                name: "grafana".into(),
                token: Secret::new("viewer-secret".into()),
                role: ControlRole::Viewer,
            },
        ]
    }

    #[test]
    fn identifies_by_bearer_token() {
        let t = tokens();
        assert_eq!(identify(&t, None), Caller::Anonymous);
        assert_eq!(identify(&t, Some("Basic abc")), Caller::Anonymous);
        assert_eq!(identify(&t, Some("Bearer nope")), Caller::Unknown);
        assert_eq!(
            identify(&t, Some("Bearer admin-secre")),
            Caller::Unknown,
            "prefix is not a match"
        );
        assert_eq!(
            identify(&t, Some("bearer viewer-secret")),
            Caller::Known {
                name: "grafana".into(),
                role: ControlRole::Viewer,
                account: Account::Configured,
            }
        );
        assert_eq!(
            identify(&t, Some("Bearer admin-secret")).audit_name(),
            "ops"
        );
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}

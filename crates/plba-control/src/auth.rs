//! Bearer tokens: who is calling and what they may do.

use plba_config::{ControlRole, ControlToken};

/// The identity behind a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    /// No `Authorization` header (or not a bearer one).
    Anonymous,
    /// A bearer token that matches no configured token.
    Unknown,
    /// A configured token.
    Known {
        /// The token's name (for the audit log).
        name: String,
        /// Its role.
        role: ControlRole,
    },
}

impl Caller {
    /// The name the audit log shows.
    pub(crate) fn audit_name(&self) -> &str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Unknown => "unknown-token",
            Self::Known { name, .. } => name,
        }
    }
}

/// Compares in time that depends only on the lengths, never on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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
    use plba_contracts::Secret;

    use super::*;

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
                role: ControlRole::Viewer
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

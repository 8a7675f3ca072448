//! Whether a webhook request comes from the holder of the shared secret.
//!
//! The signature header reads `t=<unix seconds>,v1=<hex HMAC-SHA256>`, the HMAC taken over
//! `<t>.<raw body>` with the route's secret (Stripe's scheme). Several `v1` values may be
//! given (a sender rotating its secret signs with both); one matching is enough. The
//! timestamp must lie within the tolerance of now, so a captured request is refused once
//! the tolerance has passed; within it, the idempotency key makes a replay a duplicate.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Why a request's signature or token was refused. The answer to the sender is the same
/// 401 whatever the reason; the reason is for the operator's log and metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The request has no signature header, or no bearer token.
    #[error("the request is not signed")]
    Missing,
    /// The header is not `t=<seconds>,v1=<hex>`.
    #[error("the signature header is malformed: {0}")]
    Malformed(&'static str),
    /// The timestamp is further from now than the tolerance.
    #[error(
        "the signature's timestamp is {age_secs} s away from now, more than the {tolerance_secs} s allowed"
    )]
    OutsideTolerance {
        /// How far the timestamp is from now, in seconds.
        age_secs: u64,
        /// The tolerance, in seconds.
        tolerance_secs: u64,
    },
    /// No signature matches the body and the secret.
    #[error("the signature does not match the body")]
    Mismatch,
    /// The bearer token is not the route's.
    #[error("the bearer token is not the one this route accepts")]
    WrongToken,
}

/// The signature header for `body` sent at `timestamp` (unix seconds), as a sender makes
/// it: `t=<timestamp>,v1=<hex>`.
///
/// ```
/// use std::time::Duration;
/// use plba_webhook::{sign, verify_signature};
///
/// let header = sign(b"shared secret", 1_700_000_000, br#"{"invoice":42}"#);
/// let checked = verify_signature(
///     b"shared secret", Some(&header), br#"{"invoice":42}"#,
///     1_700_000_030, Duration::from_secs(300),
/// );
/// assert_eq!(checked, Ok(()));
/// ```
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac(secret, timestamp, body))
    )
}

/// Checks the signature `header` of `body` against `secret` at `now` (unix seconds).
pub fn verify_signature(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: u64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed("a part without `=`"))?;
        match key {
            "t" => {
                let seconds = value
                    .parse::<u64>()
                    .map_err(|_| SignatureError::Malformed("`t` is not unix seconds"))?;
                timestamp = Some(seconds);
            }
            "v1" => {
                let bytes =
                    hex::decode(value).map_err(|_| SignatureError::Malformed("`v1` is not hex"))?;
                signatures.push(bytes);
            }
            // Other schemes (`v0`, future versions) are ignored, as Stripe's clients do.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed("no `t`"))?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed("no `v1`"));
    }
    let age_secs = now.abs_diff(timestamp);
    if age_secs > tolerance.as_secs() {
        return Err(SignatureError::OutsideTolerance {
            age_secs,
            tolerance_secs: tolerance.as_secs(),
        });
    }
    let expected = mac(secret, timestamp, body);
    // Every signature is compared, in constant time, whichever matches.
    let matched = signatures.iter().fold(0_u8, |any, given| {
        any | expected.as_slice().ct_eq(given).unwrap_u8()
    });
    if matched == 1 {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Checks an `Authorization` header value against the route's bearer `token`, in constant
/// time.
pub fn verify_bearer(token: &[u8], authorization: Option<&str>) -> Result<(), SignatureError> {
    let presented = authorization
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or(SignatureError::Missing)?;
    if bool::from(token.ct_eq(presented.as_bytes())) {
        Ok(())
    } else {
        Err(SignatureError::WrongToken)
    }
}

fn mac(secret: &[u8], timestamp: u64, body: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        unreachable_for_hmac()
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// HMAC accepts keys of every length, so building one never fails.
#[cold]
fn unreachable_for_hmac() -> ! {
    unreachable!("HMAC accepts keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_0123456789abcdef";
    const BODY: &[u8] = br#"{"invoice":"2026-0042","amount_cents":12900}"#;
    const NOW: u64 = 1_796_600_000;
    const TOLERANCE: Duration = Duration::from_secs(300);

    #[test]
    fn a_signature_matches_a_reference_computation() {
        // HMAC-SHA256 of "1.x" with the key "key", computed with Python's hmac module.
        assert_eq!(
            sign(b"key", 1, b"x"),
            "t=1,v1=fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec"
        );
    }

    #[test]
    fn a_signed_body_passes_and_any_change_fails() {
        let header = sign(SECRET, NOW - 10, BODY);
        assert_eq!(
            verify_signature(SECRET, Some(&header), BODY, NOW, TOLERANCE),
            Ok(())
        );
        let tampered = br#"{"invoice":"2026-0042","amount_cents":1}"#;
        assert_eq!(
            verify_signature(SECRET, Some(&header), tampered, NOW, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"another secret", Some(&header), BODY, NOW, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is signed too: moving it breaks the signature.
        let moved = header.replacen(&format!("t={}", NOW - 10), &format!("t={NOW}"), 1);
        assert_eq!(
            verify_signature(SECRET, Some(&moved), BODY, NOW, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_replay_after_the_tolerance_is_refused() {
        let header = sign(SECRET, NOW - 301, BODY);
        assert_eq!(
            verify_signature(SECRET, Some(&header), BODY, NOW, TOLERANCE),
            Err(SignatureError::OutsideTolerance {
                age_secs: 301,
                tolerance_secs: 300
            })
        );
    }

    #[test]
    fn one_of_several_signatures_matching_is_enough() {
        let old = sign(b"old secret", NOW, BODY);
        let new = sign(SECRET, NOW, BODY);
        let v1 = |header: &str| header.split_once(",v1=").unwrap().1.to_owned();
        let both = format!("t={NOW},v1={},v1={}", v1(&old), v1(&new));
        assert_eq!(
            verify_signature(SECRET, Some(&both), BODY, NOW, TOLERANCE),
            Ok(())
        );
    }

    #[test]
    fn malformed_headers_are_refused_with_a_reason() {
        for (header, expected) in [
            ("garbage", SignatureError::Malformed("a part without `=`")),
            (
                "t=soon,v1=00",
                SignatureError::Malformed("`t` is not unix seconds"),
            ),
            ("t=1,v1=zz", SignatureError::Malformed("`v1` is not hex")),
            ("v1=00", SignatureError::Malformed("no `t`")),
            ("t=1", SignatureError::Malformed("no `v1`")),
        ] {
            assert_eq!(
                verify_signature(SECRET, Some(header), BODY, NOW, TOLERANCE),
                Err(expected),
                "{header}"
            );
        }
        assert_eq!(
            verify_signature(SECRET, None, BODY, NOW, TOLERANCE),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn a_bearer_token_is_compared_whole() {
        let token = b"route-token-0123456789";
        assert_eq!(
            verify_bearer(token, Some("Bearer route-token-0123456789")),
            Ok(())
        );
        assert_eq!(
            verify_bearer(token, Some("bearer  route-token-0123456789 ")),
            Ok(())
        );
        assert_eq!(
            verify_bearer(token, Some("Bearer route-token-012345678")),
            Err(SignatureError::WrongToken)
        );
        assert_eq!(
            verify_bearer(token, Some("Basic abc")),
            Err(SignatureError::Missing)
        );
        assert_eq!(verify_bearer(token, None), Err(SignatureError::Missing));
    }
}

//! Single sign-on through an OpenID Connect provider, with the `openidconnect` crate: the
//! authorization code flow with PKCE, `state` and `nonce`; discovery; the ID token's
//! signature, issuer, audience, expiry and nonce checked, and its access-token hash when it
//! has one. The flow's secrets wait in the users' database (see `flows`), so the browser
//! may come back to any instance sharing it. A build without the `oidc` feature (no HTTPS
//! client) refuses a configured provider.

#[cfg_attr(not(feature = "oidc"), allow(dead_code))]
mod flows;
#[cfg(feature = "oidc")]
mod http;
mod identities;
#[cfg(feature = "oidc")]
mod provider;
#[cfg(not(feature = "oidc"))]
mod without;

pub use identities::Identity;
#[cfg(feature = "oidc")]
pub use provider::SingleSignOn;
#[cfg(not(feature = "oidc"))]
pub use without::SingleSignOn;

/// A sign-in started: where to send the browser, and the binding the browser must bring
/// back with the provider's answer (the caller gives it to the browser in a cookie; it never
/// stands in a URL, so an answer's URL alone finishes nothing).
#[derive(Debug)]
pub struct Started {
    /// The provider's authorization URL.
    pub url: String,
    /// The browser's binding: random, 32 bytes as hex.
    pub binding: String,
}

/// What the provider sent the browser back with, and the browser's binding.
#[derive(Clone, Copy, Debug)]
pub struct Answer<'a> {
    /// The sign-in's `state`.
    pub state: &'a str,
    /// The binding from the browser's cookie.
    pub binding: &'a str,
    /// The authorization code.
    pub code: &'a str,
    /// The issuer the answer names (`iss`, RFC 9207), if it names one.
    pub issuer: Option<&'a str>,
}

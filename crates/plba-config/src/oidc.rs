//! `platform.control.oidc`: single sign-on to the console through an OpenID Connect
//! provider.

use std::collections::BTreeMap;
use std::path::PathBuf;

use plba_contracts::Secret;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::platform::ControlRole;

/// The path the provider sends a browser back to; `redirect_url` must end with it.
pub const OIDC_CALLBACK_PATH: &str = "/ui/oidc/callback";

/// Single sign-on through an OpenID Connect provider (Keycloak, Okta, Entra ID, Dex, …):
/// the authorization code flow with PKCE, the ID token checked, and one of its claims
/// (`groups` by default) mapped to a role. People who sign in are kept as users in
/// `platform.control.users`, created at their first sign-in and given their claim's role at
/// every sign-in; a claim that maps to no role lets nobody in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL (its discovery document is at
    /// `<issuer>/.well-known/openid-configuration`). `https`, or `http` on loopback only.
    pub issuer: String,
    /// This application's client id at the provider.
    pub client_id: String,
    /// Its client secret (give it as `client_secret_file: /path`, e.g. a mounted
    /// Kubernetes secret).
    pub client_secret: Secret<String>,
    /// The console's callback as the browser reaches it, registered at the provider:
    /// `https://<console host>/ui/oidc/callback`.
    pub redirect_url: String,
    /// Scopes asked for besides `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID-token claim whose values (a string or a list of strings) map to a role.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Claim value → role; a person holding several gets the highest.
    pub roles: BTreeMap<String, ControlRole>,
    /// The ID-token claim that names the user (falls back to `email`, then `sub`).
    #[serde(default = "default_name_claim")]
    pub name_claim: String,
    /// The sign-in button's words: `Sign in with <label>`.
    #[serde(default = "default_label")]
    pub label: String,
    /// A PEM file of CAs to trust for the provider instead of the system's (a private CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_scopes() -> Vec<String> {
    vec!["profile".to_owned(), "email".to_owned()]
}

fn default_role_claim() -> String {
    "groups".to_owned()
}

fn default_name_claim() -> String {
    "preferred_username".to_owned()
}

fn default_label() -> String {
    "single sign-on".to_owned()
}

impl OidcConfig {
    /// Checks what would otherwise fail only at a sign-in; `users` tells whether
    /// `platform.control.users` is set.
    pub(crate) fn validate(&self, users: bool) -> Result<(), (String, String)> {
        let at = |field: &str| format!("platform.control.oidc.{field}");
        if !users {
            return Err((
                "platform.control.oidc".to_owned(),
                "needs platform.control.users: the people who sign in are kept there (e.g. `users: {kind: sqlite, path: data/users.db}`)".to_owned(),
            ));
        }
        let issuer = web_url(&self.issuer).map_err(|why| (at("issuer"), why))?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err((
                at("issuer"),
                format!("{:?} must not have a query or a fragment", self.issuer),
            ));
        }
        let redirect = web_url(&self.redirect_url).map_err(|why| (at("redirect_url"), why))?;
        if redirect.path() != OIDC_CALLBACK_PATH || redirect.query().is_some() {
            return Err((
                at("redirect_url"),
                format!(
                    "{:?} must be the console's callback, <scheme>://<host>{OIDC_CALLBACK_PATH}",
                    self.redirect_url
                ),
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err((at("client_id"), "must not be empty".to_owned()));
        }
        if self.client_secret.expose().trim().is_empty() {
            return Err((
                at("client_secret"),
                "is empty (give the provider's client secret in a file named by `client_secret_file`)".to_owned(),
            ));
        }
        if self.roles.is_empty() {
            return Err((
                at("roles"),
                format!(
                    "maps no value of the `{}` claim to a role, so nobody could sign in (e.g. `roles: {{plba-admins: admin, plba-viewers: viewer}}`)",
                    self.role_claim
                ),
            ));
        }
        for (field, claim) in [
            ("role_claim", &self.role_claim),
            ("name_claim", &self.name_claim),
        ] {
            if claim.trim().is_empty() {
                return Err((at(field), "must not be empty".to_owned()));
            }
        }
        if self
            .scopes
            .iter()
            .any(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            return Err((
                at("scopes"),
                "each scope is one word (`openid` is always asked for)".to_owned(),
            ));
        }
        let label_fits = !self.label.trim().is_empty()
            && self.label.chars().count() <= 40
            && !self.label.chars().any(char::is_control);
        if !label_fits {
            return Err((
                at("label"),
                "must be 1 to 40 printable characters".to_owned(),
            ));
        }
        if let Some(ca) = self.ca_file.as_ref().filter(|path| !path.is_file()) {
            return Err((
                at("ca_file"),
                format!("{} is not a readable file", ca.display()),
            ));
        }
        Ok(())
    }
}

/// `text` as an `https` URL, or an `http` one whose host is loopback (a provider on the same
/// machine, as in tests): anything else would send codes and tokens in the clear.
fn web_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|error| format!("{text:?} is not a URL: {error}"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(format!(
            "{text:?} must be https: only a provider on loopback may be reached over plain http"
        )),
        _ => Err(format!("{text:?} must be an https URL")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn config() -> OidcConfig {
        serde_json::from_value(serde_json::json!({
            "issuer": "https://id.example.com/realms/ops",
            "client_id": "plba",
            "client_secret": "a-client-secret",
            "redirect_url": "https://bot.example.com/ui/oidc/callback",
            "roles": {"ops": "operator"},
        }))
        .unwrap()
    }

    fn refusal(change: impl FnOnce(&mut OidcConfig)) -> (String, String) {
        let mut config = config();
        change(&mut config);
        config.validate(true).unwrap_err()
    }

    #[test]
    fn a_sound_configuration_passes_and_defaults_ask_for_groups() {
        let config = config();
        config.validate(true).unwrap();
        assert_eq!(config.role_claim, "groups");
        assert_eq!(config.name_claim, "preferred_username");
    }

    #[test]
    fn plain_http_is_refused_outside_loopback() {
        let (key, why) = refusal(|c| c.issuer = "http://id.example.com".to_owned());
        assert_eq!(key, "platform.control.oidc.issuer");
        assert!(why.contains("must be https"), "{why}");
        let mut local = config();
        local.issuer = "http://127.0.0.1:4000".to_owned();
        local.redirect_url = "http://localhost:9090/ui/oidc/callback".to_owned();
        local.validate(true).unwrap();
    }

    #[test]
    fn what_would_let_nobody_in_is_refused() {
        assert!(
            refusal(|c| c.roles.clear())
                .1
                .contains("nobody could sign in")
        );
        let secret = refusal(|c| c.client_secret = Secret::new(" ".to_owned()));
        assert_eq!(secret.0, "platform.control.oidc.client_secret");
        let callback = refusal(|c| c.redirect_url = "https://bot.example.com/".to_owned());
        assert!(callback.1.contains(OIDC_CALLBACK_PATH), "{callback:?}");
        let users = config().validate(false).unwrap_err();
        assert!(users.1.contains("platform.control.users"), "{users:?}");
    }

    #[test]
    fn a_role_that_does_not_exist_is_a_configuration_error() {
        let error = serde_json::from_value::<OidcConfig>(serde_json::json!({
            "issuer": "https://id.example.com", "client_id": "plba", "client_secret": "s",
            "redirect_url": "https://bot.example.com/ui/oidc/callback",
            "roles": {"ops": "superuser"},
        }))
        .unwrap_err();
        assert!(error.to_string().contains("superuser"), "{error}");
    }
}

//! The provider itself, through the `openidconnect` crate.

use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IdToken, IdTokenClaims,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use plba_config::OidcConfig;
use serde::{Deserialize, Serialize};

use super::flows::Flow;
use super::http::ProviderHttp;
use super::{Answer, Identity, Started};
use crate::{AuthError, UserStore};

/// How far ahead of this clock an ID token may say it was issued (clocks drift).
const ISSUED_AHEAD: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// How long the provider's discovery document and keys are kept before they are read again
/// (a key the provider rotated in is also fetched at once, on the first token it signs).
const METADATA_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// Every claim of an ID token beyond the standard ones, so the configured role claim can be
/// any of them.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(transparent)]
struct OtherClaims(serde_json::Map<String, serde_json::Value>);

impl openidconnect::AdditionalClaims for OtherClaims {}

type Claims = IdTokenClaims<OtherClaims, CoreGenderClaim>;

/// What discovery says beyond the core: whether the provider names itself in its answers to
/// the browser (RFC 9207), so that an answer without its name is not one of its own.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct IssuerInAnswers {
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

impl openidconnect::AdditionalProviderMetadata for IssuerInAnswers {}

/// A provider's discovery document.
type Metadata = openidconnect::ProviderMetadata<
    IssuerInAnswers,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreClientAuthMethod,
    openidconnect::core::CoreClaimName,
    openidconnect::core::CoreClaimType,
    openidconnect::core::CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJweKeyManagementAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreResponseMode,
    openidconnect::core::CoreResponseType,
    openidconnect::core::CoreSubjectIdentifierType,
>;
type RoleIdToken = IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// One configured provider.
#[derive(Debug)]
pub struct SingleSignOn {
    config: OidcConfig,
    http: ProviderHttp,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    metadata: tokio::sync::Mutex<Option<(Instant, Metadata)>>,
}

impl SingleSignOn {
    /// The provider `config` names; nothing is fetched until the first sign-in, so an
    /// application starts while its provider is down.
    pub fn new(config: &OidcConfig) -> Result<Self, AuthError> {
        let bad = |what: &str, error: url::ParseError| AuthError::Provider {
            what: what.to_owned(),
            source: Box::new(error),
        };
        Ok(Self {
            http: ProviderHttp::new(config.ca_file.as_deref())?,
            issuer: IssuerUrl::new(config.issuer.clone())
                .map_err(|e| bad("issuer is not a URL", e))?,
            redirect: RedirectUrl::new(config.redirect_url.clone())
                .map_err(|e| bad("redirect URL is not a URL", e))?,
            config: config.clone(),
            metadata: tokio::sync::Mutex::new(None),
        })
    }

    /// The sign-in button's words.
    pub fn label(&self) -> &str {
        &self.config.label
    }

    /// Whether `iss`, the issuer a provider names in its answer to the browser (RFC 9207),
    /// is this one: an answer naming another came from another provider (a mix-up attack).
    pub fn is_issuer(&self, iss: &str) -> bool {
        iss.trim_end_matches('/') == self.issuer.as_str().trim_end_matches('/')
    }

    /// Starts a sign-in that lands on `return_to` (a console path, checked by the caller).
    pub async fn begin(&self, users: &UserStore, return_to: &str) -> Result<Started, AuthError> {
        let metadata = self.metadata(false).await?;
        let (url, state, flow) = self.authorization(metadata, return_to);
        let binding = crate::tokens::random_hex(32)?;
        users.start_flow(state.secret(), &binding, flow).await?;
        Ok(Started {
            url: url.to_string(),
            binding,
        })
    }

    /// The provider's authorization URL for a new sign-in, its `state`, and what the
    /// return must match.
    fn authorization(&self, metadata: Metadata, return_to: &str) -> (url::Url, CsrfToken, Flow) {
        let client = self.client(metadata);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let flow = Flow {
            verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
            return_to: return_to.to_owned(),
        };
        (url, state, flow)
    }

    /// Finishes the sign-in the answer's `state` stands for, when its binding is the
    /// browser's that started it: who signed in and the console path to land on. The flow is
    /// used up whatever the outcome. An answer naming another issuer, or none when this
    /// provider names itself in its answers, is refused (RFC 9207).
    pub async fn finish(
        &self,
        users: &UserStore,
        answer: Answer<'_>,
    ) -> Result<(Identity, String), AuthError> {
        let flow = users
            .take_flow(answer.state, answer.binding)
            .await?
            .ok_or(AuthError::SignInExpired)?;
        let metadata = self.metadata(false).await?;
        let names_itself = metadata
            .additional_metadata()
            .authorization_response_iss_parameter_supported;
        match answer.issuer {
            Some(iss) if !self.is_issuer(iss) => {
                return Err(AuthError::ProviderRefused(
                    "the answer names another issuer".to_owned(),
                ));
            }
            None if names_itself => {
                return Err(AuthError::ProviderRefused(
                    "the answer does not name its issuer, as this provider's answers do".to_owned(),
                ));
            }
            _ => {}
        }
        let code = answer.code;
        let client = self.client(metadata);
        let exchange = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| AuthError::Provider {
                what: "names no token endpoint".to_owned(),
                source: Box::new(error),
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier));
        let token = exchange
            .request_async(&self.http)
            .await
            .map_err(|error| match error {
                // The provider answered, and said no (a code already used, say).
                openidconnect::RequestTokenError::ServerResponse(refusal) => {
                    AuthError::ProviderRefused(refusal.error().to_string())
                }
                // It answered what is not a token response: an ID token without `exp`, say.
                openidconnect::RequestTokenError::Parse(error, _) => {
                    AuthError::BadIdToken(error.to_string())
                }
                other => AuthError::Provider {
                    what: "did not exchange the code for tokens".to_owned(),
                    source: Box::new(other),
                },
            })?;
        let raw = token
            .id_token()
            .ok_or_else(|| AuthError::BadIdToken("the provider sent none".to_owned()))?
            .to_string();
        let id_token: RoleIdToken = raw
            .parse()
            .map_err(|error: serde_json::Error| AuthError::BadIdToken(error.to_string()))?;
        let nonce = Nonce::new(flow.nonce);
        let claims = match self.verified(&client, &id_token, &nonce, token.access_token()) {
            Ok(claims) => claims,
            // Perhaps signed with a key the provider rotated in since its keys were read.
            Err(_) => {
                let client = self.client(self.metadata(true).await?);
                self.verified(&client, &id_token, &nonce, token.access_token())?
            }
        };
        let identity = self.identity(&claims);
        Ok((identity, flow.return_to))
    }

    /// The ID token's claims once every check passed.
    fn verified(
        &self,
        client: &Client,
        id_token: &RoleIdToken,
        nonce: &Nonce,
        access_token: &openidconnect::AccessToken,
    ) -> Result<Claims, AuthError> {
        let verifier = client.id_token_verifier();
        let bad = |error: &dyn std::fmt::Display| AuthError::BadIdToken(error.to_string());
        let claims = id_token.claims(&verifier, nonce).map_err(|e| bad(&e))?;
        // Issued in the future (beyond a clock's drift): not a token to trust now.
        if claims.issue_time() > chrono::Utc::now() + ISSUED_AHEAD {
            return Err(AuthError::BadIdToken(
                "it says it was issued in the future".to_owned(),
            ));
        }
        if let Some(expected) = claims.access_token_hash() {
            let algorithm = id_token.signing_alg().map_err(|e| bad(&e))?;
            let key = id_token.signing_key(&verifier).map_err(|e| bad(&e))?;
            let actual =
                AccessTokenHash::from_token(access_token, algorithm, key).map_err(|e| bad(&e))?;
            if actual != *expected {
                return Err(AuthError::BadIdToken(
                    "its access-token hash does not match the access token".to_owned(),
                ));
            }
        }
        Ok(claims.clone())
    }

    /// Who the claims say signed in, with the role their role claim maps to.
    fn identity(&self, claims: &Claims) -> Identity {
        let other = &claims.additional_claims().0;
        let standard = |name: &str| match name {
            "preferred_username" => claims.preferred_username().map(|n| n.as_str().to_owned()),
            "email" => claims.email().map(|e| e.as_str().to_owned()),
            "sub" => Some(claims.subject().as_str().to_owned()),
            other_claim => other
                .get(other_claim)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
        };
        let name = [
            self.config.name_claim.as_str(),
            "preferred_username",
            "email",
            "sub",
        ]
        .into_iter()
        .find_map(standard)
        .unwrap_or_default();
        let values: Vec<&str> = match other.get(&self.config.role_claim) {
            Some(serde_json::Value::String(value)) => vec![value.as_str()],
            Some(serde_json::Value::Array(values)) => values
                .iter()
                .filter_map(serde_json::Value::as_str)
                .collect(),
            _ => Vec::new(),
        };
        let role = values
            .iter()
            .filter_map(|value| self.config.roles.get(*value).copied())
            .max();
        Identity {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            name: user_name(&name),
            role,
            claim: self.config.role_claim.clone(),
        }
    }

    fn client(&self, metadata: Metadata) -> Client {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(
                self.config.client_secret.expose().clone(),
            )),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// The provider's discovery document and keys, read again when older than
    /// [`METADATA_LIFETIME`] or when `fresh`.
    async fn metadata(&self, fresh: bool) -> Result<Metadata, AuthError> {
        let mut cached = self.metadata.lock().await;
        if let Some((read, metadata)) = cached.as_ref()
            && !fresh
            && read.elapsed() < METADATA_LIFETIME
        {
            return Ok(metadata.clone());
        }
        let metadata = Metadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|error| AuthError::Provider {
                what: format!(
                    "at {} cannot be discovered",
                    self.issuer.as_str().trim_end_matches('/')
                ),
                source: Box::new(error),
            })?;
        *cached = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }
}

/// The client type once its redirect URL is set.
type Client = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// `claimed` as a user name: characters a name may not hold become `_`, at most 64 of them.
fn user_name(claimed: &str) -> String {
    claimed
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_name_becomes_a_name_a_user_may_have() {
        assert_eq!(user_name("ana.lima@example.com"), "ana.lima@example.com");
        assert_eq!(user_name("Ana Lima"), "Ana_Lima");
        assert_eq!(user_name("\u{1b}[31mx"), "__31mx");
        assert_eq!(user_name(&"a".repeat(100)).len(), 64);
    }
}

/// The ID token's checks, against tokens a provider of the test's own signs (Ed25519, a key
/// made for the test): what is refused, and the role read from what is accepted.
#[cfg(test)]
mod token_checks {
    #![allow(clippy::unwrap_used)]

    use base64::Engine;
    use chrono::{TimeDelta, Utc};
    use openidconnect::core::{
        CoreEdDsaPrivateSigningKey, CoreResponseType, CoreSubjectIdentifierType,
    };
    use openidconnect::{
        AccessToken, Audience, AuthUrl, JsonWebKeyId, JsonWebKeySet, JsonWebKeySetUrl,
        PrivateSigningKey, ResponseTypes, StandardClaims, SubjectIdentifier, TokenUrl,
    };
    use plba_config::ControlRole;

    use super::*;

    const ISSUER: &str = "https://id.example.test";

    struct Provider {
        key: CoreEdDsaPrivateSigningKey,
        sso: SingleSignOn,
        client: Client,
    }

    fn key() -> CoreEdDsaPrivateSigningKey {
        let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
            .unwrap()
            .serialize_pem();
        CoreEdDsaPrivateSigningKey::from_ed25519_pem(&pem, Some(JsonWebKeyId::new("k1".into())))
            .unwrap()
    }

    fn provider() -> Provider {
        let config: OidcConfig = serde_json::from_value(serde_json::json!({
            "issuer": ISSUER,
            "client_id": "plba",
            "client_secret": "the client secret",
            "redirect_url": "https://bot.example.test/ui/oidc/callback",
            "roles": {"ops": "operator", "admins": "admin"},
        }))
        .unwrap();
        let key = key();
        let metadata = Metadata::new(
            IssuerUrl::new(ISSUER.into()).unwrap(),
            AuthUrl::new(format!("{ISSUER}/auth")).unwrap(),
            JsonWebKeySetUrl::new(format!("{ISSUER}/jwks")).unwrap(),
            vec![ResponseTypes::new(vec![CoreResponseType::Code])],
            vec![CoreSubjectIdentifierType::Public],
            vec![CoreJwsSigningAlgorithm::EdDsa],
            IssuerInAnswers::default(),
        )
        .set_token_endpoint(Some(TokenUrl::new(format!("{ISSUER}/token")).unwrap()))
        .set_jwks(JsonWebKeySet::new(vec![key.as_verification_key()]));
        let sso = SingleSignOn::new(&config).unwrap();
        let client = sso.client(metadata);
        Provider { key, sso, client }
    }

    /// Claims the provider would sign for Ana, in the groups `groups`, changed by `change`.
    fn claims(groups: serde_json::Value, change: impl FnOnce(Claims) -> Claims) -> Claims {
        let now = Utc::now();
        let mut other = serde_json::Map::new();
        other.insert("groups".to_owned(), groups);
        let claims = IdTokenClaims::new(
            IssuerUrl::new(ISSUER.into()).unwrap(),
            vec![Audience::new("plba".into())],
            now + TimeDelta::minutes(5),
            now,
            StandardClaims::new(SubjectIdentifier::new("sub-ana".into())),
            OtherClaims(other),
        )
        .set_nonce(Some(Nonce::new("the nonce".into())))
        .set_preferred_username(Some(openidconnect::EndUserUsername::new("ana".into())));
        change(claims)
    }

    fn signed(key: &CoreEdDsaPrivateSigningKey, claims: Claims) -> RoleIdToken {
        let access = AccessToken::new("the access token".into());
        IdToken::new(
            claims,
            key,
            CoreJwsSigningAlgorithm::EdDsa,
            Some(&access),
            None,
        )
        .unwrap()
    }

    fn check(provider: &Provider, token: &RoleIdToken) -> Result<Claims, AuthError> {
        provider.sso.verified(
            &provider.client,
            token,
            &Nonce::new("the nonce".into()),
            &AccessToken::new("the access token".into()),
        )
    }

    fn refused(provider: &Provider, change: impl FnOnce(Claims) -> Claims) -> String {
        let token = signed(&provider.key, claims(serde_json::json!(["ops"]), change));
        match check(provider, &token) {
            Err(AuthError::BadIdToken(why)) => why,
            other => panic!("accepted or failed otherwise: {other:?}"),
        }
    }

    #[test]
    fn a_sound_token_gives_the_highest_role_its_groups_map_to() {
        let provider = provider();
        let identity = |groups| {
            let token = signed(&provider.key, claims(groups, |c| c));
            provider.sso.identity(&check(&provider, &token).unwrap())
        };
        let both = identity(serde_json::json!(["staff", "ops", "admins"]));
        assert_eq!(
            (both.name.as_str(), both.role),
            ("ana", Some(ControlRole::Admin))
        );
        assert_eq!(both.subject, "sub-ana");
        assert_eq!(
            identity(serde_json::json!("ops")).role,
            Some(ControlRole::Operator)
        );
        assert_eq!(identity(serde_json::json!(["staff"])).role, None);
        assert_eq!(identity(serde_json::json!(null)).role, None);
    }

    #[test]
    fn a_token_for_another_audience_issuer_or_time_is_refused() {
        let provider = provider();
        let other_audience = refused(&provider, |c| {
            c.set_audiences(vec![Audience::new("someone-else".into())])
        });
        assert!(other_audience.contains("audience"), "{other_audience}");
        refused(&provider, |c| {
            c.set_issuer(IssuerUrl::new("https://evil.example".into()).unwrap())
        });
        refused(&provider, |c| {
            c.set_expiration(Utc::now() - TimeDelta::minutes(1))
                .set_issue_time(Utc::now() - TimeDelta::minutes(10))
        });
        let ahead = refused(&provider, |c| {
            c.set_issue_time(Utc::now() + TimeDelta::hours(1))
                .set_expiration(Utc::now() + TimeDelta::hours(2))
        });
        assert!(ahead.contains("future"), "{ahead}");
        refused(&provider, |c| {
            c.set_nonce(Some(Nonce::new("another".into())))
        });
        refused(&provider, |c| c.set_nonce(None));
    }

    #[test]
    fn a_token_unsigned_or_signed_by_another_key_or_for_another_access_token_is_refused() {
        let provider = provider();
        let sound = signed(&provider.key, claims(serde_json::json!(["ops"]), |c| c));
        check(&provider, &sound).unwrap();
        // Signed by a key the provider does not publish.
        let forged = signed(&key(), claims(serde_json::json!(["admins"]), |c| c));
        assert!(check(&provider, &forged).is_err());
        // The same claims with `alg: none` and no signature.
        let text = sound.to_string();
        let payload = text.split('.').nth(1).unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{header}.{payload}.");
        let accepted = unsigned
            .parse::<RoleIdToken>()
            .ok()
            .and_then(|token| check(&provider, &token).ok());
        assert!(accepted.is_none(), "alg none accepted");
        // Bound to another access token (its `at_hash`).
        let other_access = AccessToken::new("another access token".into());
        let rebound = IdToken::new(
            claims(serde_json::json!(["ops"]), |c| c),
            &provider.key,
            CoreJwsSigningAlgorithm::EdDsa,
            Some(&other_access),
            None,
        )
        .unwrap();
        let why = match check(&provider, &rebound) {
            Err(AuthError::BadIdToken(why)) => why,
            other => panic!("{other:?}"),
        };
        assert!(why.contains("access-token hash"), "{why}");
    }
}

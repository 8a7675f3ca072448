//! A build without the `oidc` feature: a configured provider is refused when the
//! configuration is checked, so none can be built.

use plba_config::OidcConfig;

use super::{Answer, Identity, Started};
use crate::{AuthError, UserStore};

/// A provider this build cannot talk to: it has no value.
#[derive(Debug)]
pub struct SingleSignOn {
    never: std::convert::Infallible,
}

impl SingleSignOn {
    /// Refuses: this build has no single sign-on.
    pub fn new(_config: &OidcConfig) -> Result<Self, AuthError> {
        Err(AuthError::NoSingleSignOn)
    }

    /// The sign-in button's words.
    pub fn label(&self) -> &str {
        match self.never {}
    }

    /// Whether `iss` is this provider's issuer.
    pub fn is_issuer(&self, _iss: &str) -> bool {
        match self.never {}
    }

    /// Starts a sign-in.
    pub async fn begin(&self, _users: &UserStore, _return_to: &str) -> Result<Started, AuthError> {
        match self.never {}
    }

    /// Finishes a sign-in.
    pub async fn finish(
        &self,
        _users: &UserStore,
        _answer: Answer<'_>,
    ) -> Result<(Identity, String), AuthError> {
        match self.never {}
    }
}

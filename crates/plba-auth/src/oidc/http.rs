//! The HTTP client that talks to the provider: rustls on ring, the system's roots (or the
//! configured CA file), no redirects followed (a redirect could point the client anywhere),
//! a deadline on every call and a cap on every answer's size.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openidconnect::{HttpRequest, HttpResponse};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::AuthError;

/// The longest a call to the provider may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer read from the provider: a discovery document or key set is a few KB.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The largest CA file read.
const CA_FILE_BYTES: u64 = 4 << 20;

/// Why a call to the provider failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// The request could not be sent or the answer not read.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// The answer is larger than any a provider sends.
    #[error("its answer is over {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
}

/// A client for one provider.
#[derive(Clone, Debug)]
pub(crate) struct ProviderHttp {
    client: reqwest::Client,
}

impl ProviderHttp {
    /// A client trusting `ca_file` only, or the system's roots.
    pub(crate) fn new(ca_file: Option<&Path>) -> Result<Self, AuthError> {
        let failed = |what: &str, why: String| AuthError::Provider {
            what: what.to_owned(),
            source: why.into(),
        };
        let mut roots = RootCertStore::empty();
        match ca_file {
            Some(path) => {
                let pem = plba_util::read_limited(path, CA_FILE_BYTES).map_err(|e| {
                    failed("CA file cannot be read", format!("{}: {e}", path.display()))
                })?;
                for certificate in CertificateDer::pem_slice_iter(&pem) {
                    let added = certificate
                        .map_err(|e| e.to_string())
                        .and_then(|c| roots.add(c).map_err(|e| e.to_string()));
                    added.map_err(|why| {
                        failed(
                            "CA file is not PEM certificates",
                            format!("{}: {why}", path.display()),
                        )
                    })?;
                }
            }
            None => {
                for certificate in rustls_native_certs::load_native_certs().certs {
                    // A broken system certificate is skipped, as every TLS client does.
                    let _ = roots.add(certificate);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| failed("TLS cannot be set up", e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| failed("client cannot be built", e.to_string()))?;
        Ok(Self { client })
    }

    /// Sends `request`, reading at most [`MAX_ANSWER_BYTES`] of the answer.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, CallError> {
        let request = reqwest::Request::try_from(request)?;
        let mut answer = self.client.execute(request).await?;
        if answer
            .content_length()
            .is_some_and(|length| length > MAX_ANSWER_BYTES as u64)
        {
            return Err(CallError::TooLarge);
        }
        let status = answer.status();
        let headers = answer.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = answer.chunk().await? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(CallError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let mut response = HttpResponse::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

/// `openidconnect` sends its requests through this. The future is boxed with `Send` spelled
/// out: a closure would leave the compiler unable to prove it for every lifetime.
impl<'c> openidconnect::AsyncHttpClient<'c> for ProviderHttp {
    type Error = CallError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, CallError>> + Send + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

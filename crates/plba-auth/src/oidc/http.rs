//! The HTTP client that talks to the provider: hyper's, with rustls on ring and the system's
//! roots (or the configured CA file); no redirects followed (a redirect could point the
//! client anywhere), a deadline on every call and a cap on every answer's size.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use openidconnect::{HttpRequest, HttpResponse};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::AuthError;

/// The longest a call to the provider may take, answer included.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer read from the provider: a discovery document or key set is a few KB.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The largest CA file read.
const CA_FILE_BYTES: u64 = 4 << 20;

/// Why a call to the provider failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// The request could not be sent.
    #[error(transparent)]
    Send(#[from] hyper_util::client::legacy::Error),
    /// The answer could not be read, or is larger than any a provider sends.
    #[error("its answer cannot be read (at most {MAX_ANSWER_BYTES} bytes): {0}")]
    Answer(Box<dyn std::error::Error + Send + Sync>),
    /// No answer within the deadline.
    #[error("no answer within {CALL_TIMEOUT:?}")]
    Timeout,
}

/// A client for one provider.
#[derive(Clone, Debug)]
pub(crate) struct ProviderHttp {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
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
        // Plain http only reaches a provider on loopback: the configuration refuses it
        // anywhere else.
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { client })
    }

    /// Sends `request`, reading at most [`MAX_ANSWER_BYTES`] of the answer, all within
    /// [`CALL_TIMEOUT`].
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, CallError> {
        let call = async {
            let request = request.map(|body| Full::new(Bytes::from(body)));
            let answer = self.client.request(request).await?;
            let (parts, body) = answer.into_parts();
            let body = Limited::new(body, MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(CallError::Answer)?
                .to_bytes();
            Ok(HttpResponse::from_parts(parts, body.to_vec()))
        };
        tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .unwrap_or(Err(CallError::Timeout))
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

//! HTTPS for the control plane: a rustls acceptor from PEM files.

use std::sync::Arc;

use plba_config::ControlTls;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

use crate::error::ControlError;

fn tls_error(what: String, source: impl std::error::Error + Send + Sync + 'static) -> ControlError {
    ControlError::Tls {
        what,
        source: Some(Box::new(source)),
    }
}

/// An acceptor serving the certificate chain and key of `tls`. Reads the files: call it
/// at start-up.
pub(crate) fn acceptor(tls: &ControlTls) -> Result<TlsAcceptor, ControlError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert_file)
        .map_err(|e| {
            tls_error(
                format!("certificate {} cannot be read", tls.cert_file.display()),
                e,
            )
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            tls_error(
                format!("certificate {} is not PEM", tls.cert_file.display()),
                e,
            )
        })?;
    if chain.is_empty() {
        return Err(ControlError::Tls {
            what: format!(
                "certificate {} holds no certificate",
                tls.cert_file.display()
            ),
            source: None,
        });
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key_file).map_err(|e| {
        tls_error(
            format!("key {} cannot be read as PEM", tls.key_file.display()),
            e,
        )
    })?;
    let config = ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| tls_error("protocol versions".to_owned(), e))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| {
        tls_error(
            format!(
                "key {} does not fit the certificate",
                tls.key_file.display()
            ),
            e,
        )
    })?;
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

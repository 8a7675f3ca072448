//! HTTPS for the control plane: a rustls acceptor from PEM files.

use std::sync::Arc;

use plba_config::ControlTls;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

use crate::error::ControlError;

/// The largest certificate chain or key file read: a chain is a few kilobytes, and a path
/// naming something endless (`/dev/urandom`) must not hang or fill the start-up.
const PEM_FILE_BYTES: u64 = 1 << 20;

fn tls_error(what: String, source: impl std::error::Error + Send + Sync + 'static) -> ControlError {
    ControlError::Tls {
        what,
        source: Some(Box::new(source)),
    }
}

/// An acceptor serving the certificate chain and key of `tls`. Reads the files: call it
/// at start-up.
pub(crate) fn acceptor(tls: &ControlTls) -> Result<TlsAcceptor, ControlError> {
    let cert_pem = plba_util::read_limited(&tls.cert_file, PEM_FILE_BYTES).map_err(|e| {
        tls_error(
            format!("certificate {} cannot be read", tls.cert_file.display()),
            e,
        )
    })?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
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
    let key_pem = plba_util::read_limited(&tls.key_file, PEM_FILE_BYTES)
        .map_err(|e| tls_error(format!("key {} cannot be read", tls.key_file.display()), e))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_certificate_file_is_refused() {
        let tls = ControlTls {
            cert_file: "/dev/urandom".into(),
            key_file: "/dev/urandom".into(),
        };
        let Err(error) = acceptor(&tls) else {
            panic!("random bytes made a certificate");
        };
        let text = plba_util::error_chain(&error);
        assert!(text.contains("not a regular file"), "{text}");
    }
}

//! Trust through the OS store, with a clear error when the server's CA is not in it.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::pin::find_in_chain;
use crate::Fingerprint;

/// The server's chain leads to no CA the OS trusts: usually a wicketd with its own private
/// CA, reached without `--ca-fingerprint`.
///
/// webpki calls this `UnknownIssuer`, which tells a person nothing about what to do; this
/// error carries the fingerprints the server offered, so a client can name the one to check
/// against what wicketd printed and then pin. Reported as `rustls::Error::Other(..)` like
/// [`PinMismatch`](crate::PinMismatch); use [`UnknownCa::find`] to recognise it.
#[derive(Clone, PartialEq, Eq)]
pub struct UnknownCa {
    /// Fingerprints of every certificate the server sent, leaf first.
    pub offered: Vec<Fingerprint>,
}

impl UnknownCa {
    /// Find an `UnknownCa` in an error chain, as [`PinMismatch::find`](crate::PinMismatch::find)
    /// does.
    pub fn find<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a UnknownCa> {
        find_in_chain(err)
    }

    /// The top of the chain the server sent: for wicketd's own CA, the CA certificate, whose
    /// fingerprint wicketd prints at start. `None` only for an empty chain.
    pub fn top(&self) -> Option<Fingerprint> {
        self.offered.last().copied()
    }
}

impl fmt::Display for UnknownCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the server's certificate is not signed by a CA this machine trusts")?;
        if let Some(top) = self.top() {
            write!(f, " (its chain ends at {top})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for UnknownCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl StdError for UnknownCa {}

/// webpki's verifier over the OS roots, with `UnknownIssuer` turned into [`UnknownCa`].
#[derive(Debug)]
pub(crate) struct SystemVerifier {
    inner: Arc<WebPkiServerVerifier>,
}

impl SystemVerifier {
    pub(crate) fn new(inner: Arc<WebPkiServerVerifier>) -> Self {
        Self { inner }
    }
}

impl ServerCertVerifier for SystemVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| match e {
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                    let offered = std::iter::once(end_entity)
                        .chain(intermediates)
                        .map(|c| Fingerprint::of_der(c))
                        .collect();
                    rustls::Error::Other(OtherError(Arc::new(UnknownCa { offered })))
                }
                other => other,
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

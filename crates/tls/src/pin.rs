//! Certificate pinning: trust exactly one certificate, identified by its fingerprint.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::Fingerprint;

/// The server's chain contains no certificate with the pinned fingerprint.
///
/// Reported as `rustls::Error::Other(..)` rather than inside
/// `Error::InvalidCertificate`, because rustls prints certificate errors with `{:?}`
/// and the message should read cleanly: "other error: server certificate does not
/// match the pinned CA fingerprint … (server offered …)". The cost is that the server
/// sees a generic `handshake_failure` alert. Use [`PinMismatch::find`] to recognise it
/// (e.g. to tell the user the server's CA changed).
#[derive(Clone, PartialEq, Eq)]
pub struct PinMismatch {
    /// The fingerprint the client was configured with.
    pub pinned: Fingerprint,
    /// Fingerprints of every certificate the server sent, leaf first.
    pub offered: Vec<Fingerprint>,
}

impl PinMismatch {
    /// Find a `PinMismatch` in an error chain: an `io::Error` from tokio-rustls, a
    /// `rustls::Error`, or anything wrapping them as its `source()`.
    pub fn find<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a PinMismatch> {
        find_in_chain(err)
    }
}

/// A verifier's own error of type `T` in an error chain: verifiers report it wrapped in
/// `rustls::Error::Other` (or a certificate error's `Other`), inside an `io::Error` from
/// tokio-rustls, inside whatever wraps that as its `source()`.
pub(crate) fn find_in_chain<'a, T: StdError + 'static>(
    err: &'a (dyn StdError + 'static),
) -> Option<&'a T> {
    let mut cur: Option<&'a (dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(
            rustls::Error::Other(other)
            | rustls::Error::InvalidCertificate(CertificateError::Other(other)),
        ) = e.downcast_ref::<rustls::Error>()
        {
            let inner: &'a (dyn StdError + 'static) = other.0.as_ref();
            if let Some(found) = inner.downcast_ref::<T>() {
                return Some(found);
            }
        }
        // io::Error::source() skips the wrapped error itself, so look inside it.
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            if let Some(found) = find_in_chain(inner) {
                return Some(found);
            }
        }
        cur = e.source();
    }
    None
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "server certificate does not match the pinned CA fingerprint {} (server offered ",
            self.pinned
        )?;
        for (i, fp) in self.offered.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{fp}")?;
        }
        f.write_str(")")
    }
}

/// Same as `Display`, so the message reads the same wherever it surfaces (including
/// `{:?}` of a wrapping error).
impl fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl StdError for PinMismatch {}

/// Verifies a server against one pinned certificate instead of a root store.
///
/// * If the leaf itself has the pinned fingerprint it is accepted as is: no name,
///   validity-period or chain checks. The pin names this exact certificate and the
///   handshake signature proves the server holds its key, which is the SSH host-key
///   model; checking the name would only break setups where a self-signed leaf is
///   reached by an address it was not issued for, without adding any security.
/// * Otherwise the pinned certificate must be among the intermediates the server sent.
///   It becomes the only trust anchor and the leaf is verified with webpki as usual:
///   signature chain, validity period, serverAuth usage and server name. A CA can sign
///   for any host, so here the name check does matter.
#[derive(Debug)]
pub(crate) struct PinnedVerifier {
    pin: Fingerprint,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedVerifier {
    pub(crate) fn new(pin: Fingerprint, algorithms: WebPkiSupportedAlgorithms) -> Self {
        Self { pin, algorithms }
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if Fingerprint::of_der(end_entity) == self.pin {
            return Ok(ServerCertVerified::assertion());
        }
        let Some(pinned) = intermediates
            .iter()
            .find(|c| Fingerprint::of_der(c) == self.pin)
        else {
            let offered = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| Fingerprint::of_der(c))
                .collect();
            return Err(rustls::Error::Other(OtherError(Arc::new(PinMismatch {
                pinned: self.pin,
                offered,
            }))));
        };
        let anchor = webpki::anchor_from_trusted_cert(pinned).map_err(pki_error)?;
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(pki_error)?;
        cert.verify_for_usage(
            self.algorithms.all,
            &[anchor],
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(pki_error)?;
        cert.verify_is_valid_for_subject_name(server_name)
            .map_err(pki_error)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A certificate error rustls has no variant for.
fn other(err: impl StdError + Send + Sync + 'static) -> rustls::Error {
    CertificateError::Other(OtherError(Arc::new(err))).into()
}

/// webpki errors as rustls reports them, so pinned and system-trust failures read
/// alike (rustls' own mapping is private).
fn pki_error(err: webpki::Error) -> rustls::Error {
    use webpki::Error as E;
    match err {
        E::BadDer | E::BadDerTime | E::TrailingData(_) => CertificateError::BadEncoding.into(),
        E::CertNotValidYet { time, not_before } => {
            CertificateError::NotValidYetContext { time, not_before }.into()
        }
        E::CertExpired { time, not_after } => {
            CertificateError::ExpiredContext { time, not_after }.into()
        }
        E::InvalidCertValidity => CertificateError::Expired.into(),
        E::UnknownIssuer => CertificateError::UnknownIssuer.into(),
        E::CertNotValidForName(ctx) => CertificateError::NotValidForNameContext {
            expected: ctx.expected,
            presented: ctx.presented,
        }
        .into(),
        E::InvalidSignatureForPublicKey => CertificateError::BadSignature.into(),
        E::CertRevoked => CertificateError::Revoked.into(),
        other_err => other(other_err),
    }
}

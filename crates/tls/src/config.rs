//! rustls client and server configurations, all on the aws-lc-rs provider.

use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::pin::PinnedVerifier;
use crate::system::SystemVerifier;
use crate::{Fingerprint, TlsError};

/// The only ALPN protocol we speak: WebSocket upgrades need HTTP/1.1.
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// How a client or agent decides to trust the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trust {
    /// Trust only a chain containing a certificate with this SHA-256 fingerprint (the
    /// private CA, or a self-signed leaf). If the pinned certificate is the leaf itself
    /// it is accepted as is (no name or validity check: the pin identifies that exact
    /// certificate). If it is further up the chain, the leaf is verified by webpki with
    /// the pinned certificate as the only trust anchor: signatures, validity period,
    /// serverAuth usage and the server name.
    Pinned(Fingerprint),
    /// The OS trust store (rustls-native-certs), for servers with publicly trusted
    /// certificates. The store is read each time a config is built. A chain that leads to
    /// no trusted CA fails with [`UnknownCa`](crate::UnknownCa).
    System,
}

/// The crypto provider every config in this crate is built on. Configs name it
/// explicitly so they work whether or not [`install_crypto_provider`] ran.
///
/// [`install_crypto_provider`]: crate::install_crypto_provider
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

/// Client configuration for talking to `wicketd`: ALPN `http/1.1`, no client certificate.
pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = match trust {
        Trust::Pinned(fp) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier::new(
                *fp,
                provider.signature_verification_algorithms,
            )))
            .with_no_client_auth(),
        Trust::System => {
            let webpki = WebPkiServerVerifier::builder_with_provider(
                Arc::new(system_roots()?),
                provider.clone(),
            )
            .build()
            .map_err(|e| TlsError::SystemRoots(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(SystemVerifier::new(webpki)))
                .with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// Server configuration for a chain and key: ALPN `http/1.1`, no client auth.
pub(crate) fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// The OS root certificates. Unparsable entries are logged and skipped, as browsers
/// do; only an empty store is an error.
fn system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    for err in &found.errors {
        tracing::warn!("skipping part of the system trust store: {err}");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::warn!("ignored {ignored} unparsable system root certificates");
    }
    if added == 0 {
        let detail = found
            .errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(TlsError::SystemRoots(if detail.is_empty() {
            "no root certificates found".into()
        } else {
            format!("no usable root certificates ({detail})")
        }));
    }
    Ok(roots)
}

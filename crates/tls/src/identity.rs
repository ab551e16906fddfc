//! The server's TLS identity: where it comes from (generated private CA or operator
//! files) and the rustls server configuration built from it.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::ca::{self, Generated};
use crate::config::{provider, server_config};
use crate::files::{self, CERT_MODE};
use crate::{Fingerprint, TlsError};

/// File names inside the identity directory.
const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
const SERVER_CERT: &str = "server.pem";
const SERVER_KEY: &str = "server.key";

/// Renew the server certificate when it has less than this left.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// What the server presents: its chain (leaf first, then the CA) and key, plus the
/// CA's fingerprint that clients and agents pin.
pub struct ServerIdentity {
    /// Leaf first, then the CA (or whatever the operator's chain file holds).
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
    /// Fingerprint of the last certificate in `chain`: what `Trust::Pinned` expects.
    pub ca_fingerprint: Fingerprint,
    /// PEM of that same certificate, for handing out to clients (e.g. a download endpoint).
    pub ca_pem: String,
}

impl ServerIdentity {
    /// Load the private-CA identity from `dir`, creating what is missing.
    ///
    /// On first start this makes a private CA (ECDSA P-256, ~10 years, CN
    /// `wicket private CA <hostname>`) and a server certificate signed by it (ECDSA
    /// P-256, ~1 year) for `sans`, and writes `ca.pem`, `ca.key` (0600), `server.pem`
    /// (leaf + CA) and `server.key` (0600). Later starts load them. The server certificate
    /// is reissued from the stored CA when it is missing, unreadable, not signed by the
    /// stored CA, does not match its key, lacks one of `sans`, or expires within 30 days;
    /// the CA itself is never replaced, so the pinned fingerprint is stable. A CA
    /// certificate without its key (or a key that does not match) is an error rather than
    /// a reason to make a new CA, since that would silently break every agent's pin.
    ///
    /// `sans` entries are IP literals (`127.0.0.1`, `::1`, `[::1]`) or DNS names; an IP
    /// becomes an iPAddress SAN, never a DNS one, matching how clients verify IPs.
    pub fn load_or_create(dir: &Path, sans: &[String]) -> Result<Self, TlsError> {
        let names = ca::parse_sans(sans)?;
        files::ensure_dir(dir)?;
        let (ca_pem, ca_key_pem) = load_or_create_ca(dir, &names)?;
        let ca_der = single_cert(&dir.join(CA_CERT), &ca_pem)?;
        check_key_matches(&ca_der, &ca_key_pem).map_err(|reason| TlsError::Identity {
            dir: dir.to_path_buf(),
            reason: format!("{CA_KEY} does not belong to {CA_CERT}: {reason}"),
        })?;

        let (leaf, key) = match load_server_cert(dir, &ca_der, &names) {
            Ok(found) => found,
            Err(why) => {
                tracing::info!(dir = %dir.display(), "issuing a new server certificate: {why}");
                let Generated {
                    cert_pem,
                    cert_der,
                    key_pem,
                } = ca::new_server_cert(&ca_der, &ca_key_pem, &names)?;
                files::write_private(&dir.join(SERVER_KEY), key_pem.as_bytes())?;
                files::write_atomic(
                    &dir.join(SERVER_CERT),
                    format!("{cert_pem}{ca_pem}").as_bytes(),
                    CERT_MODE,
                )?;
                (cert_der, pkcs8_from_pem(&dir.join(SERVER_KEY), &key_pem)?)
            }
        };

        Ok(Self {
            ca_fingerprint: Fingerprint::of_der(&ca_der),
            chain: vec![leaf, ca_der],
            key,
            ca_pem,
        })
    }

    /// Use an operator-provided certificate chain and key (PEM files), e.g. from a
    /// public CA. `ca_fingerprint` is the fingerprint of the last certificate in the
    /// chain file, so include the root (or the intermediate you want agents to pin) last.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let chain = files::read_certs(cert)?;
        let key_der = files::read_key(key)?;
        // Fail at startup, with both paths named, rather than on the first handshake.
        CertifiedKey::from_der(chain.clone(), key_der.clone_key(), &provider()).map_err(|e| {
            TlsError::pem(key, format!("cannot be used with {}: {e}", cert.display()))
        })?;
        let last = chain
            .last()
            .ok_or_else(|| TlsError::pem(cert, "no CERTIFICATE block found"))?;
        Ok(Self {
            ca_fingerprint: Fingerprint::of_der(last),
            ca_pem: files::cert_to_pem(last),
            chain,
            key: key_der,
        })
    }

    /// rustls server configuration presenting this identity, ALPN `http/1.1` only
    /// (WebSocket upgrades need HTTP/1.1), no client certificates.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        server_config(self.chain.clone(), self.key.clone_key())
    }
}

impl Clone for ServerIdentity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            ca_fingerprint: self.ca_fingerprint,
            ca_pem: self.ca_pem.clone(),
        }
    }
}

/// Hand-written so the private key never ends up in a log line.
impl fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("chain_len", &self.chain.len())
            .field("ca_fingerprint", &self.ca_fingerprint.to_string())
            .finish_non_exhaustive()
    }
}

/// The CA certificate and key PEM, generating both if `ca.pem` does not exist.
fn load_or_create_ca(
    dir: &Path,
    names: &[ServerName<'static>],
) -> Result<(String, String), TlsError> {
    let cert_path = dir.join(CA_CERT);
    let key_path = dir.join(CA_KEY);
    if cert_path.exists() {
        if !key_path.exists() {
            return Err(TlsError::Identity {
                dir: dir.to_path_buf(),
                reason: format!(
                    "{CA_CERT} exists but {CA_KEY} is missing; restore {CA_KEY}, or delete \
                     {CA_CERT} to create a new CA (every agent will then need the new fingerprint)"
                ),
            });
        }
        return Ok((
            files::read_to_string(&cert_path)?,
            files::read_to_string(&key_path)?,
        ));
    }
    // No CA certificate means nothing can have been pinned to it yet; a stray key
    // (crash between the two writes, or a deleted certificate) is simply replaced.
    let generated = ca::new_ca(&ca::hostname(names))?;
    // Key first: a certificate on disk without its key is the state we refuse to repair.
    files::write_private(&key_path, generated.key_pem.as_bytes())?;
    files::write_atomic(&cert_path, generated.cert_pem.as_bytes(), CERT_MODE)?;
    tracing::info!(
        dir = %dir.display(),
        fingerprint = %Fingerprint::of_der(&generated.cert_der),
        "created a new private CA"
    );
    Ok((generated.cert_pem, generated.key_pem))
}

/// The stored server certificate and key, if they are still good for `names`;
/// otherwise why not (for the log line).
fn load_server_cert(
    dir: &Path,
    ca_der: &CertificateDer<'static>,
    names: &[ServerName<'static>],
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), String> {
    let cert_path = dir.join(SERVER_CERT);
    let key_path = dir.join(SERVER_KEY);
    if !cert_path.exists() || !key_path.exists() {
        return Err("none stored yet".into());
    }
    let leaf = files::read_certs(&cert_path)
        .map_err(|e| e.to_string())?
        .swap_remove(0);
    let key = files::read_key(&key_path).map_err(|e| e.to_string())?;
    CertifiedKey::from_der(vec![leaf.clone()], key.clone_key(), &provider())
        .map_err(|e| format!("{SERVER_KEY} does not match {SERVER_CERT}: {e}"))?;

    // Verifying as of 30 days from now rejects both "not issued by this CA" and
    // "expires soon" with the same checks a client will run.
    let anchor = webpki::anchor_from_trusted_cert(ca_der).map_err(|e| e.to_string())?;
    let ee = webpki::EndEntityCert::try_from(&leaf).map_err(|e| e.to_string())?;
    let later = UnixTime::now()
        .as_secs()
        .saturating_add(RENEW_BEFORE.as_secs());
    ee.verify_for_usage(
        provider().signature_verification_algorithms.all,
        &[anchor],
        &[],
        UnixTime::since_unix_epoch(Duration::from_secs(later)),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .map_err(|e| format!("stored certificate fails verification 30 days from now: {e:?}"))?;
    for name in names {
        ee.verify_is_valid_for_subject_name(name)
            .map_err(|_| format!("stored certificate does not cover {}", name.to_str()))?;
    }
    Ok((leaf, key))
}

/// Exactly one certificate from PEM text.
fn single_cert(path: &Path, pem: &str) -> Result<CertificateDer<'static>, TlsError> {
    let mut certs = files::parse_certs(path, pem)?;
    if certs.len() != 1 {
        return Err(TlsError::pem(
            path,
            format!("expected one certificate, found {}", certs.len()),
        ));
    }
    Ok(certs.swap_remove(0))
}

/// Whether `key_pem` is the private key for `cert`.
fn check_key_matches(cert: &CertificateDer<'static>, key_pem: &str) -> Result<(), String> {
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| e.to_string())?
        .ok_or("no PRIVATE KEY block found")?;
    CertifiedKey::from_der(vec![cert.clone()], key, &provider()).map_err(|e| e.to_string())?;
    Ok(())
}

/// The key rcgen just produced, as rustls wants it.
fn pkcs8_from_pem(path: &Path, pem: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    match rustls_pemfile::private_key(&mut pem.as_bytes()) {
        Ok(Some(key)) => Ok(key),
        _ => Err(TlsError::pem(path, "generated key is not valid PEM")),
    }
}

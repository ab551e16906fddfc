//! Generating the private CA and the server certificates it signs (rcgen).

use std::net::IpAddr;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, ServerName};
use time::{Duration, OffsetDateTime};

use crate::TlsError;

/// The CA outlives many server certificates: agents pin it, so replacing it means
/// re-enrolling every agent.
const CA_VALIDITY: Duration = Duration::days(3650);
/// Server certificates are cheap to renew (it happens automatically on start).
const SERVER_VALIDITY: Duration = Duration::days(365);
/// Backdating tolerates peers whose clocks run a little behind ours.
const BACKDATE: Duration = Duration::hours(1);

/// A freshly generated certificate and its key, both PEM.
pub(crate) struct Generated {
    pub(crate) cert_pem: String,
    pub(crate) cert_der: CertificateDer<'static>,
    pub(crate) key_pem: String,
}

/// Parse the requested subject alternative names: IP literals (optionally in `[...]`)
/// become iPAddress SANs, everything else must be a valid DNS name. Duplicates and
/// empty entries are dropped; an empty result is an error since no client could
/// verify such a certificate.
pub(crate) fn parse_sans(sans: &[String]) -> Result<Vec<ServerName<'static>>, TlsError> {
    let mut out: Vec<ServerName<'static>> = Vec::new();
    for raw in sans {
        let s = raw.trim();
        if s.is_empty() {
            continue;
        }
        let unbracketed = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        let name = match unbracketed.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => {
                ServerName::try_from(s.to_ascii_lowercase()).map_err(|e| TlsError::InvalidSan {
                    san: raw.clone(),
                    reason: e.to_string(),
                })?
            }
        };
        if !out.contains(&name) {
            out.push(name);
        }
    }
    if out.is_empty() {
        return Err(TlsError::InvalidSan {
            san: String::new(),
            reason: "at least one DNS name or IP address is required".into(),
        });
    }
    Ok(out)
}

/// Best-effort host name for the CA's common name, which is only a label that helps
/// an operator tell CAs apart (e.g. in a browser's certificate viewer).
pub(crate) fn hostname(sans: &[ServerName<'static>]) -> String {
    let from_kernel = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    from_kernel
        .or_else(|| {
            sans.iter().find_map(|n| match n {
                ServerName::DnsName(d) if d.as_ref() != "localhost" => Some(d.as_ref().to_string()),
                _ => None,
            })
        })
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// A new self-signed CA: ECDSA P-256, ~10 years, may only sign end-entity certificates.
pub(crate) fn new_ca(hostname: &str) -> Result<Generated, TlsError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = base_params(CA_VALIDITY)?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("wicket private CA {hostname}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key)?;
    Ok(Generated {
        cert_pem: cert.pem(),
        cert_der: cert.der().clone(),
        key_pem: key.serialize_pem(),
    })
}

/// A new server certificate (ECDSA P-256, ~1 year, serverAuth) for `sans`, signed by
/// the CA whose certificate and key are given. The issuer is rebuilt from the CA
/// certificate itself so the issuer name and authority key identifier match it
/// byte for byte.
pub(crate) fn new_server_cert(
    ca_der: &CertificateDer<'_>,
    ca_key_pem: &str,
    sans: &[ServerName<'static>],
) -> Result<Generated, TlsError> {
    let ca_key = KeyPair::from_pem(ca_key_pem)?;
    let issuer = Issuer::from_ca_cert_der(ca_der, &ca_key)?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = base_params(SERVER_VALIDITY)?;
    let common_name = sans
        .iter()
        .find_map(|n| match n {
            ServerName::DnsName(d) if d.as_ref() != "localhost" => Some(d.as_ref().to_string()),
            _ => None,
        })
        .unwrap_or_else(|| "wicketd".to_string());
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.subject_alt_names = sans
        .iter()
        .map(|n| match n {
            ServerName::IpAddress(ip) => Ok(SanType::IpAddress(IpAddr::from(*ip))),
            ServerName::DnsName(d) => Ok(SanType::DnsName(d.as_ref().to_string().try_into()?)),
            other => Err(TlsError::InvalidSan {
                san: format!("{other:?}"),
                reason: "unsupported name type".into(),
            }),
        })
        .collect::<Result<_, TlsError>>()?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Generated {
        cert_pem: cert.pem(),
        cert_der: cert.der().clone(),
        key_pem: key.serialize_pem(),
    })
}

/// Parameters shared by CA and server certificates: an empty subject, a random
/// serial and a validity window starting slightly in the past.
fn base_params(validity: Duration) -> Result<CertificateParams, TlsError> {
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.not_before = now - BACKDATE;
    params.not_after = now + validity;
    params.serial_number = Some(random_serial()?);
    Ok(params)
}

/// 16 random bytes, top bit cleared and the next one set, so the DER INTEGER is
/// positive and exactly 16 bytes (RFC 5280 allows at most 20).
fn random_serial() -> Result<SerialNumber, TlsError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| rcgen::Error::RingUnspecified)?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01 << 6;
    Ok(SerialNumber::from_slice(&bytes))
}

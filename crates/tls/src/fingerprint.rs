//! SHA-256 certificate fingerprints, the unit of trust that agents and clients pin.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest::{digest, SHA256};

use crate::TlsError;

/// SHA-256 of a DER-encoded certificate.
///
/// `Display` renders 64 lowercase hex digits with no separators and no prefix
/// (e.g. `3f0a…9c`), which is the canonical form wicket prints and stores.
/// `FromStr` is lenient so operators can paste what other tools print: it also accepts
/// uppercase hex, colon-separated pairs as printed by
/// `openssl x509 -noout -fingerprint -sha256` (with or without its `sha256 Fingerprint=`
/// label), and an optional `sha256:` prefix in any case. Anything else is rejected with
/// [`TlsError::InvalidFingerprint`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Fingerprint of a DER certificate (the bytes that go on the wire, not PEM text).
    pub fn of_der(der: &[u8]) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, der).as_ref());
        Self(out)
    }

    /// Uppercase, colon-separated form (`AB:CD:…`), matching `openssl x509 -fingerprint`,
    /// for showing next to output an operator may compare by eye.
    pub fn to_colon_hex(&self) -> String {
        let mut out = String::with_capacity(95);
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            out.push_str(&format!("{b:02X}"));
        }
        out
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl FromStr for Fingerprint {
    type Err = TlsError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = || TlsError::InvalidFingerprint {
            input: input.to_string(),
        };
        let mut s = input.trim();
        // openssl prints "sha256 Fingerprint=AB:CD:..." (older versions: "SHA256 Fingerprint=").
        if let Some((label, rest)) = s.split_once('=') {
            if !label.trim().eq_ignore_ascii_case("sha256 fingerprint") {
                return Err(err());
            }
            s = rest.trim();
        }
        if s.len() >= 7 && s[..7].eq_ignore_ascii_case("sha256:") {
            s = &s[7..];
        }
        let hex_digits: String = if s.contains(':') {
            // Colon-separated must be exactly 32 groups of two digits; anything looser
            // (missing digits, doubled colons) is more likely a typo than intent.
            let groups: Vec<&str> = s.split(':').collect();
            if groups.len() != 32 || groups.iter().any(|g| g.len() != 2) {
                return Err(err());
            }
            groups.concat()
        } else {
            s.to_string()
        };
        if hex_digits.len() != 64 {
            return Err(err());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(&hex_digits, &mut out).map_err(|_| err())?;
        Ok(Self(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn display_is_lowercase_hex() {
        let fp: Fingerprint = HEX.parse().unwrap();
        assert_eq!(fp.to_string(), HEX);
        assert_eq!(fp.to_string().len(), 64);
    }

    #[test]
    fn accepts_common_spellings() {
        let want: Fingerprint = HEX.parse().unwrap();
        let colon = want.to_colon_hex();
        assert_eq!(colon.len(), 95);
        for s in [
            HEX.to_uppercase(),
            colon.clone(),
            colon.to_lowercase(),
            format!("sha256:{HEX}"),
            format!("SHA256:{colon}"),
            format!("  {HEX}\n"),
            format!("sha256 Fingerprint={colon}"),
            format!("SHA256 Fingerprint={colon}"),
        ] {
            assert_eq!(s.parse::<Fingerprint>().unwrap(), want, "{s}");
        }
    }

    #[test]
    fn rejects_junk() {
        for s in [
            "",
            "sha256:",
            "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            &HEX[..62],
            &format!("{HEX}00"),
            &format!("sha1:{HEX}"),
            "00:11:22",
            &format!("{}:", Fingerprint([7; 32]).to_colon_hex()),
            &format!("0{}", &Fingerprint([7; 32]).to_colon_hex()[1..]).replacen(':', "::", 1),
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
        ] {
            let err = s.parse::<Fingerprint>().unwrap_err();
            assert!(err.to_string().contains("64 hex"), "{s}: {err}");
        }
    }

    #[test]
    fn of_der_matches_known_digest() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        let fp = Fingerprint::of_der(b"abc");
        assert_eq!(
            fp.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

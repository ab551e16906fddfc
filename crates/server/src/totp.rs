//! HOTP (RFC 4226) and TOTP (RFC 6238) with HMAC-SHA-1 through aws-lc-rs, and the base32
//! (RFC 4648, no padding) that authenticator apps expect secrets in.
//!
//! wicket's parameters are the ones every authenticator app defaults to: SHA-1, 6 digits, a
//! 30-second step, and one step of clock skew either way.

use aws_lc_rs::hmac;

/// Seconds per time step.
pub const STEP_SECS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// How many steps before and after the current one are accepted.
pub const SKEW: i64 = 1;
/// Length of the secrets wicketd makes.
pub const SECRET_LEN: usize = 20;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4226 HOTP value of `counter`, `digits` long (zero-padded).
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let bin = (u32::from(mac[offset]) & 0x7f) << 24
        | u32::from(mac[offset + 1]) << 16
        | u32::from(mac[offset + 2]) << 8
        | u32::from(mac[offset + 3]);
    let value = u64::from(bin) % 10u64.pow(digits);
    format!("{value:0width$}", width = digits as usize)
}

/// The time step that `unix_secs` falls in.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The 6-digit TOTP code for `unix_secs`.
pub fn code_at(secret: &[u8], unix_secs: i64) -> String {
    hotp(secret, step_at(unix_secs).max(0) as u64, DIGITS)
}

/// Checks `code` against the steps around `unix_secs` and returns the step it matched (so the
/// caller can refuse its reuse). Every candidate is compared in constant time.
pub fn verify(secret: &[u8], code: &str, unix_secs: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_secs);
    let mut found = None;
    for step in (now - SKEW)..=(now + SKEW) {
        if step < 0 {
            continue;
        }
        let expected = hotp(secret, step as u64, DIGITS);
        if ct_eq(expected.as_bytes(), code.as_bytes()) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The `otpauth://` URI authenticator apps scan.
pub fn otpauth_uri(user: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/wicket:{}?secret={}&issuer=wicket",
        percent_encode(user),
        base32_encode(secret)
    )
}

/// RFC 4648 base32, upper case, no padding.
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes base32, ignoring case, spaces and padding; `None` on any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        if c == b'=' || c == b' ' || c == b'-' {
            continue;
        }
        let v = BASE32.iter().position(|&x| x == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Compares without an early exit.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, the SHA-1 rows (8 digits, the 20-byte ASCII secret).
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (time, expected) in [
            (59i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(
                hotp(secret, step_at(time) as u64, 8),
                expected,
                "T = {time}"
            );
            // The 6-digit code is the same value modulo 10^6.
            assert_eq!(code_at(secret, time), expected[2..], "T = {time}");
        }
    }

    /// RFC 4226 appendix D.
    #[test]
    fn rfc4226_vectors() {
        let secret = b"12345678901234567890";
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(hotp(secret, i as u64, 6), *e, "counter {i}");
        }
    }

    #[test]
    fn verify_accepts_one_step_of_skew_and_returns_the_step() {
        let secret = b"12345678901234567890";
        let t = 1_111_111_111;
        let now = step_at(t);
        assert_eq!(verify(secret, &code_at(secret, t), t), Some(now));
        assert_eq!(verify(secret, &code_at(secret, t - 30), t), Some(now - 1));
        assert_eq!(verify(secret, &code_at(secret, t + 30), t), Some(now + 1));
        assert_eq!(verify(secret, &code_at(secret, t - 60), t), None);
        assert_eq!(verify(secret, &code_at(secret, t + 60), t), None);
        assert_eq!(verify(secret, "12345", t), None);
        assert_eq!(verify(secret, "abcdef", t), None);
        assert_eq!(
            verify(secret, &format!(" {} ", code_at(secret, t)), t),
            Some(now)
        );
    }

    #[test]
    fn base32_round_trips_and_matches_rfc4648() {
        assert_eq!(base32_encode(b""), "");
        assert_eq!(base32_encode(b"f"), "MY");
        assert_eq!(base32_encode(b"fo"), "MZXQ");
        assert_eq!(base32_encode(b"foo"), "MZXW6");
        assert_eq!(base32_encode(b"foob"), "MZXW6YQ");
        assert_eq!(base32_encode(b"fooba"), "MZXW6YTB");
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("MZXW6YTBOI======"), Some(b"foobar".to_vec()));
        assert_eq!(base32_decode("mzxw 6ytb oi"), Some(b"foobar".to_vec()));
        assert_eq!(base32_decode("MZ1"), None);
        let secret: Vec<u8> = (0..20).collect();
        let text = base32_encode(&secret);
        assert_eq!(text.len(), 32);
        assert_eq!(base32_decode(&text), Some(secret));
    }

    #[test]
    fn otpauth_uri_has_the_expected_shape() {
        let uri = otpauth_uri("alice", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/wicket:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=wicket"
        );
    }
}

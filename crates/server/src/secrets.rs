//! Secrets: bearer tokens, activation codes, passwords and nonces.
//!
//! Tokens and activation codes are 256 random bits, so a fast SHA-256 is enough to store them
//! (nobody can guess a preimage); passwords are low-entropy and get argon2id.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;

/// `n` random bytes from the OS.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // aws-lc's RNG only fails if the OS has none, in which case nothing here can work.
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        panic!("the operating system random number generator failed");
    }
    b
}

/// A new bearer token: a prefix that makes leaked tokens easy to spot, then 256 random bits.
pub fn new_token() -> String {
    format!("wkt_{}", b64(&random_bytes::<32>()))
}

/// A new activation code.
pub fn new_activation_code() -> String {
    format!("wka_{}", b64(&random_bytes::<32>()))
}

/// A new handshake nonce, hex.
pub fn new_nonce() -> String {
    hex::encode(random_bytes::<32>())
}

/// A readable password for `wicketd admin create-user`.
pub fn new_password() -> String {
    b64(&random_bytes::<18>())
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::encode_b64(&random_bytes::<16>())?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Constant-time inside argon2; a malformed stored hash verifies as false.
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A valid hash of nothing anyone knows, verified against for unknown users so that a login
/// takes as long whether or not the user exists.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&new_password()).unwrap_or_default())
}

/// Verifies an Ed25519 signature made by an agent.
pub fn verify_ed25519(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, public_key)
        .verify(message, signature)
        .is_ok()
}

/// Compares two secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_are_distinct() {
        assert_ne!(new_token(), new_token());
        assert_eq!(sha256(b"").len(), 32);
    }
}

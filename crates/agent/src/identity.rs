//! The agent's identity: which server, which target, and the private key that proves it.
//!
//! Kept in one JSON file, mode 0600, in a directory of mode 0700, written atomically so a crash
//! never leaves half an identity. The private key never leaves the host.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::AgentError;

pub const FILE_NAME: &str = "identity.json";

#[derive(Clone, Serialize, Deserialize)]
pub struct Identity {
    pub server: String,
    pub target_id: String,
    pub name: String,
    /// The pinned CA; `None` trusts the OS store.
    pub ca_fingerprint: Option<String>,
    /// PKCS#8 Ed25519 key, base64.
    private_key: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("server", &self.server)
            .field("target_id", &self.target_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A fresh key pair: the PKCS#8 document and the raw public key.
pub fn generate_key() -> Result<(Vec<u8>, Vec<u8>), AgentError> {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| AgentError::Identity("cannot generate an Ed25519 key".into()))?;
    let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref())
        .map_err(|_| AgentError::Identity("generated key does not parse".into()))?;
    Ok((doc.as_ref().to_vec(), pair.public_key().as_ref().to_vec()))
}

impl Identity {
    pub fn new(
        server: String,
        target_id: String,
        name: String,
        ca_fingerprint: Option<String>,
        pkcs8: &[u8],
    ) -> Self {
        Identity {
            server,
            target_id,
            name,
            ca_fingerprint,
            private_key: base64::engine::general_purpose::STANDARD.encode(pkcs8),
        }
    }

    pub fn path(dir: &Path) -> PathBuf {
        dir.join(FILE_NAME)
    }

    pub fn load(dir: &Path) -> Result<Self, AgentError> {
        let path = Self::path(dir);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            AgentError::Identity(format!(
                "cannot read {}: {e}; enrol first with `wicket-agent register`",
                path.display()
            ))
        })?;
        let id: Identity = serde_json::from_str(&text)
            .map_err(|e| AgentError::Identity(format!("{} is corrupt: {e}", path.display())))?;
        id.key_pair()?;
        Ok(id)
    }

    pub fn save(&self, dir: &Path) -> Result<(), AgentError> {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        let text =
            serde_json::to_string_pretty(self).map_err(|e| AgentError::Identity(e.to_string()))?;
        wicket_tls::write_private(&Self::path(dir), text.as_bytes())?;
        Ok(())
    }

    fn key_pair(&self) -> Result<Ed25519KeyPair, AgentError> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(&self.private_key)
            .map_err(|_| AgentError::Identity("stored private key is not base64".into()))?;
        Ed25519KeyPair::from_pkcs8(&der)
            .map_err(|_| AgentError::Identity("stored private key is not an Ed25519 key".into()))
    }

    /// Signs `message` with the identity's key.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AgentError> {
        Ok(self.key_pair()?.sign(message).as_ref().to_vec())
    }

    /// The trust to apply to the server.
    pub fn trust(&self) -> Result<wicket_tls::Trust, AgentError> {
        match &self.ca_fingerprint {
            Some(fp) => Ok(wicket_tls::Trust::Pinned(fp.parse().map_err(|e| {
                AgentError::Identity(format!("stored CA fingerprint: {e}"))
            })?)),
            None => Ok(wicket_tls::Trust::System),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_private_and_signs() {
        let dir = tempfile::tempdir().unwrap();
        let (pkcs8, public) = generate_key().unwrap();
        let id = Identity::new(
            "https://s".into(),
            "tgt_1".into(),
            "web-1".into(),
            None,
            &pkcs8,
        );
        id.save(dir.path()).unwrap();
        let mode = std::fs::metadata(Identity::path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = Identity::load(dir.path()).unwrap();
        let sig = back.sign(b"m").unwrap();
        let pk =
            aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, &public);
        assert!(pk.verify(b"m", &sig).is_ok());
        assert!(!format!("{back:?}").contains(&back.private_key));
    }
}

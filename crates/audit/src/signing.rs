//! The audit signing key, signed checkpoints of the chain head, and signed export seals.
//!
//! Signed messages (all integers big-endian):
//!
//! ```text
//! checkpoint: "wicket-audit-checkpoint-v1" 0x00 | seq u64 | head 32 | time i64
//! seal:       "wicket-audit-seal-v1" 0x00 | first_seq u64 | last_seq u64 | first_prev 32 | last_hash 32 | time i64
//! ```

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

use crate::event::{hex32, ChainedEvent, Hash};

/// The server's Ed25519 audit key. Its public half is what an auditor pins.
pub struct AuditKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("public_key", &hex::encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

/// A key could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot generate an Ed25519 key")]
    Generate,
    #[error("not a PKCS#8 Ed25519 key: {0}")]
    Parse(String),
}

impl AuditKey {
    /// A fresh key as PKCS#8 v2 bytes (what the server keeps on disk).
    pub fn generate_pkcs8() -> Result<Vec<u8>, KeyError> {
        Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| KeyError::Generate)
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<AuditKey, KeyError> {
        Ed25519KeyPair::from_pkcs8(der)
            .map(|pair| AuditKey { pair })
            .map_err(|e| KeyError::Parse(e.to_string()))
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// Signs the head of the chain: `head` is the hash of event `seq`.
    pub fn checkpoint(&self, seq: u64, head: Hash, time: i64) -> Checkpoint {
        let signature = self
            .pair
            .sign(&Checkpoint::message(seq, &head, time))
            .as_ref()
            .to_vec();
        Checkpoint {
            seq,
            head,
            time,
            signature,
        }
    }

    /// Seals the events `first_seq..=last_seq` of an export.
    pub fn seal(
        &self,
        first_seq: u64,
        last_seq: u64,
        first_prev: Hash,
        last_hash: Hash,
        time: i64,
    ) -> Seal {
        let mut seal = Seal {
            first_seq,
            last_seq,
            first_prev,
            last_hash,
            time,
            signature: Vec::new(),
        };
        seal.signature = self.pair.sign(&seal.message()).as_ref().to_vec();
        seal
    }
}

/// Whether `signature` is `public_key`'s Ed25519 signature of `message`.
pub fn verify_signature(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(message, signature)
        .is_ok()
}

/// A signed statement that event `seq` had hash `head` at `time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    #[serde(with = "hex32")]
    pub head: Hash,
    pub time: i64,
    #[serde(with = "hexvec")]
    pub signature: Vec<u8>,
}

impl Checkpoint {
    pub fn message(seq: u64, head: &Hash, time: i64) -> Vec<u8> {
        let mut m = b"wicket-audit-checkpoint-v1\0".to_vec();
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend_from_slice(head);
        m.extend_from_slice(&time.to_be_bytes());
        m
    }

    pub fn verify(&self, public_key: &[u8]) -> bool {
        verify_signature(
            public_key,
            &Checkpoint::message(self.seq, &self.head, self.time),
            &self.signature,
        )
    }
}

/// The signed closing line of an export segment: which events it holds and the hashes that
/// tie it to the chain on both ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub first_seq: u64,
    pub last_seq: u64,
    /// The `prev_hash` of event `first_seq`.
    #[serde(with = "hex32")]
    pub first_prev: Hash,
    /// The hash of event `last_seq`.
    #[serde(with = "hex32")]
    pub last_hash: Hash,
    pub time: i64,
    #[serde(with = "hexvec")]
    pub signature: Vec<u8>,
}

impl Seal {
    pub fn message(&self) -> Vec<u8> {
        let mut m = b"wicket-audit-seal-v1\0".to_vec();
        m.extend_from_slice(&self.first_seq.to_be_bytes());
        m.extend_from_slice(&self.last_seq.to_be_bytes());
        m.extend_from_slice(&self.first_prev);
        m.extend_from_slice(&self.last_hash);
        m.extend_from_slice(&self.time.to_be_bytes());
        m
    }

    pub fn verify(&self, public_key: &[u8]) -> bool {
        verify_signature(public_key, &self.message(), &self.signature)
    }
}

mod hexvec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        hex::decode(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A sealed segment as it is written to a file or the object store: one event per line as the
/// API serves it, then `{"seal": ...}` (docs/AUDIT.md, "Export").
pub fn segment_text(events: &[ChainedEvent], seal: &Seal) -> Result<String, serde_json::Error> {
    let mut text = String::new();
    for e in events {
        text.push_str(&serde_json::to_string(e)?);
        text.push('\n');
    }
    text.push_str(&serde_json::to_string(
        &serde_json::json!({ "seal": seal }),
    )?);
    text.push('\n');
    Ok(text)
}

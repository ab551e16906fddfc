//! Audit events, their canonical encoding and the chain hash.
//!
//! The canonical encoding (version 1) is a length-prefixed binary form, so no two different
//! events encode alike and the same event always encodes to the same bytes:
//!
//! ```text
//! "WAE1"                      4 bytes, magic and version
//! seq                         u64, big-endian
//! time                        i64, big-endian, unix milliseconds
//! actor, source, action,
//! resource, outcome, details  each: u32 big-endian byte length, then that many UTF-8 bytes
//! ```
//!
//! `details` is JSON text, stored and hashed exactly as written; the writer produces it with
//! [`canonical_json`] so that equal details are equal bytes.

use serde::{Deserialize, Serialize};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The `prev_hash` of the first event (sequence number 1): 32 zero bytes.
pub const GENESIS: Hash = [0u8; 32];

const MAGIC: &[u8; 4] = b"WAE1";

/// How the recorded action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was attempted and failed (wrong password, bad request, internal error).
    Failure,
    /// A policy or an access check refused it.
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            "denied" => Some(Outcome::Denied),
            _ => None,
        }
    }
}

/// One audit event, before or after it is chained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// When it was recorded, unix milliseconds.
    pub time: i64,
    /// Who: a user name, `agent:<target id>`, or `-` when nobody authenticated.
    pub actor: String,
    /// The peer address the request came from, or empty.
    pub source: String,
    /// What, as a dotted name: `auth.login`, `api.request`, `authz.decision`, `session.start`…
    pub action: String,
    /// On what: a route, `target:<name>`, `user:<name>`, `server`…
    pub resource: String,
    pub outcome: Outcome,
    /// Anything else, as JSON text (an object), hashed byte for byte.
    pub details: String,
}

/// An event with its place in the chain, as stored and as served by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainedEvent {
    #[serde(flatten)]
    pub event: Event,
    /// The hash of the event before (the [`GENESIS`] for the first).
    #[serde(with = "hex32")]
    pub prev_hash: Hash,
    /// `SHA-256(prev_hash || encode(event))`.
    #[serde(with = "hex32")]
    pub hash: Hash,
}

impl ChainedEvent {
    /// Chains `event` after `prev_hash`.
    pub fn new(event: Event, prev_hash: Hash) -> ChainedEvent {
        let hash = chain_hash(&prev_hash, &event);
        ChainedEvent {
            event,
            prev_hash,
            hash,
        }
    }

    /// Whether the stored hash is the hash of the stored content and prev hash.
    pub fn is_self_consistent(&self) -> bool {
        chain_hash(&self.prev_hash, &self.event) == self.hash
    }
}

/// The canonical bytes of an event (see the module documentation).
pub fn encode(e: &Event) -> Vec<u8> {
    let fields = [
        e.actor.as_str(),
        e.source.as_str(),
        e.action.as_str(),
        e.resource.as_str(),
        e.outcome.as_str(),
        e.details.as_str(),
    ];
    let len = 4 + 16 + fields.iter().map(|f| 4 + f.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&e.seq.to_be_bytes());
    out.extend_from_slice(&e.time.to_be_bytes());
    for f in fields {
        // Fields longer than 4 GiB cannot be stored anyway; saturating keeps this total.
        let n = u32::try_from(f.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(f.as_bytes());
    }
    out
}

/// Why bytes are not a canonical event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a version 1 audit event (bad magic)")]
    Magic,
    #[error("truncated event")]
    Truncated,
    #[error("field is not UTF-8")]
    Utf8,
    #[error("unknown outcome {0:?}")]
    Outcome(String),
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

/// The inverse of [`encode`]; refuses anything [`encode`] would not have produced.
pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(DecodeError::Magic)?;
    let (seq, rest) = take::<8>(rest)?;
    let (time, mut rest) = take::<8>(rest)?;
    let mut fields = Vec::with_capacity(6);
    for _ in 0..6 {
        let (len, r) = take::<4>(rest)?;
        let len = u32::from_be_bytes(len) as usize;
        if r.len() < len {
            return Err(DecodeError::Truncated);
        }
        let (f, r) = r.split_at(len);
        fields.push(String::from_utf8(f.to_vec()).map_err(|_| DecodeError::Utf8)?);
        rest = r;
    }
    if !rest.is_empty() {
        return Err(DecodeError::Trailing(rest.len()));
    }
    let mut it = fields.into_iter();
    let mut next = || it.next().unwrap_or_default();
    let (actor, source, action, resource, outcome, details) =
        (next(), next(), next(), next(), next(), next());
    Ok(Event {
        seq: u64::from_be_bytes(seq),
        time: i64::from_be_bytes(time),
        actor,
        source,
        action,
        resource,
        outcome: Outcome::parse(&outcome).ok_or(DecodeError::Outcome(outcome))?,
        details,
    })
}

fn take<const N: usize>(b: &[u8]) -> Result<([u8; N], &[u8]), DecodeError> {
    if b.len() < N {
        return Err(DecodeError::Truncated);
    }
    let (head, rest) = b.split_at(N);
    let mut a = [0u8; N];
    a.copy_from_slice(head);
    Ok((a, rest))
}

/// `SHA-256(prev_hash || encode(event))`.
pub fn chain_hash(prev_hash: &Hash, event: &Event) -> Hash {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(prev_hash);
    ctx.update(&encode(event));
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// JSON text with object keys sorted (by their UTF-8 bytes) and no whitespace: the form the
/// writer stores `details` in, independent of how a map happened to be ordered.
pub fn canonical_json(v: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Hashes as lowercase hex in JSON.
pub(crate) mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(&s).map_err(serde::de::Error::custom)?;
        v.try_into()
            .map_err(|_| serde::de::Error::custom("expected 32 bytes of hex"))
    }
}

#[cfg(test)]
mod tests;

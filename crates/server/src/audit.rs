//! The audit log: one [`AuditLog`] per process, in [`crate::AppState`], through which every part of
//! the server records what happened. Events go through one writer task that appends them to
//! the hash chain in the store (in batches, one transaction each) and copies them to the
//! JSON-lines sink; a checkpoint task signs the head with the audit key at an interval and on
//! shutdown. See `docs/AUDIT.md` for what is recorded and which appends fail closed.
//!
//! Two ways to record:
//! - [`AuditLog::append`] waits until the event is committed and fails if it could not be: for
//!   events that must be on record before the request is answered (logins, authorization
//!   decisions, session starts, admin changes). The caller refuses the request on failure.
//! - [`AuditLog::record`] queues the event and returns: for events about something that has
//!   already happened and cannot be refused (session ends, agent disconnects). A failure is
//!   logged with the event.

//!
//! # Layout
//! - `writer`: [`AuditLog`], its writer task, the JSON-lines sink, and signed checkpoints.
//! - `key`: the signing key's file and the database's claim on it.

mod key;
mod writer;

use wicket_audit::{canonical_json, Event, Outcome};
use wicket_proto::text::bounded;

use crate::error::ApiError;
use crate::limits;
use crate::now_ms;

pub use key::{claim_chain, load_or_create_key, read_key, KEY_FILE};
pub use writer::{checkpoints, AuditLog};

/// The audit log could not record an event that had to be on record first: what it describes
/// must be refused (a 503 over HTTP; never reported as a policy's refusal).
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("the audit log is unavailable; nothing was done")]
pub struct AuditUnavailable;

impl From<AuditUnavailable> for ApiError {
    fn from(e: AuditUnavailable) -> Self {
        ApiError::unavailable(e.to_string())
    }
}

/// Who did something, as recorded: a user name, `agent:<target id>`, or `-`.
#[derive(Clone, Debug)]
pub struct Actor(pub String);

impl Actor {
    pub fn nobody() -> Actor {
        Actor("-".into())
    }
}

/// A new event (its sequence number is assigned by the chain). Every string in it, the
/// details' included, is cut to `limits::AUDIT_TEXT`: handlers bound what they accept, and
/// this is the last line that keeps one event from growing the chain by more than a few KiB,
/// whatever a caller passed.
pub fn event(
    actor: &str,
    source: Option<std::net::IpAddr>,
    action: &str,
    resource: &str,
    outcome: Outcome,
    mut details: serde_json::Value,
) -> Event {
    bound_strings(&mut details);
    Event {
        seq: 0,
        time: now_ms(),
        actor: bounded(actor, limits::AUDIT_TEXT).into_owned(),
        source: source.map(|s| s.to_string()).unwrap_or_default(),
        action: bounded(action, limits::AUDIT_TEXT).into_owned(),
        resource: bounded(resource, limits::AUDIT_TEXT).into_owned(),
        outcome,
        details: canonical_json(&details),
    }
}

/// Cuts every string (keys too) in `v` to [`limits::AUDIT_TEXT`].
fn bound_strings(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.len() > limits::AUDIT_TEXT => {
            *s = bounded(s, limits::AUDIT_TEXT).into_owned();
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(bound_strings),
        serde_json::Value::Object(o) => {
            if o.keys().any(|k| k.len() > limits::AUDIT_TEXT) {
                *o = std::mem::take(o)
                    .into_iter()
                    .map(|(k, v)| (bounded(&k, limits::AUDIT_TEXT).into_owned(), v))
                    .collect();
            }
            o.values_mut().for_each(bound_strings);
        }
        _ => {}
    }
}

//! Reading the audit log. The events, checkpoints and seals themselves are `wicket-audit`'s
//! types, re-exported here: clients verify them with that crate, so they travel exactly as it
//! serialises them. This module has what goes around them; the document describes them with
//! the schemas in [`crate::openapi::schemas`], which tests hold to the real types.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
pub use wicket_audit::{ChainedEvent, Checkpoint, Seal};

/// The query of `GET /v1/audit/events`: filters and paging.
///
/// A page holds the oldest `limit` matching events (paging forwards with `after`), or with
/// `newest=true` the newest (paging backwards with `before`); either way in chain order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Events after this sequence number (paging forwards).
    pub after: Option<u64>,
    /// Events before this sequence number (paging backwards, with `newest`).
    pub before: Option<u64>,
    /// Take the newest matching events instead of the oldest (`journalctl -n`); the page is
    /// still oldest first.
    pub newest: Option<bool>,
    /// Unix milliseconds, inclusive.
    pub since: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until: Option<i64>,
    /// Actor (a user name, `agent:<id>`).
    pub user: Option<String>,
    /// Target name: matches the resource `target:<name>`.
    pub target: Option<String>,
    /// An action, or its prefix up to a dot (`session` for `session.start` and `.end`).
    pub action: Option<String>,
    /// At most this many events (the server caps it at a page).
    pub limit: Option<u32>,
}

/// One page of events, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    /// The events, each with its `prev_hash` and `hash`.
    #[schema(value_type = Vec<crate::openapi::schemas::ChainedEvent>)]
    pub events: Vec<ChainedEvent>,
    /// Pass as `after` for the next page; absent on the last page (and with `newest`).
    pub next_after: Option<u64>,
    /// With `newest`: pass as `before` for the page of older events; absent when there are
    /// none.
    #[serde(default)]
    pub next_before: Option<u64>,
}

/// The query of `GET /v1/audit/checkpoints`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckpointQuery {
    /// Checkpoints after this sequence number (paging); default 0.
    pub after: Option<u64>,
    /// At most this many (the server caps it at a page).
    pub limit: Option<u32>,
}

/// `GET /v1/audit/public-key`: the key that signs checkpoints and seals. A client should pin
/// it (`wicket audit verify --public-key`) rather than trust this answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicKey {
    /// `ed25519`.
    pub algorithm: String,
    /// The 32-byte Ed25519 public key, hex.
    pub public_key: String,
}

/// `POST /v1/audit/seal`: seal events `first_seq..=last_seq` for an export segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SealRequest {
    /// The segment's first event.
    pub first_seq: u64,
    /// Its last event.
    pub last_seq: u64,
}

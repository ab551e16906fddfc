//! Enrolment: a host trades an activation code and its public key for a target id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/agents/register`, sent by `wicket-agent register`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// The activation's id.
    pub activation_id: String,
    /// The activation's secret code; the server compares hashes.
    pub activation_code: String,
    /// The target's name: 1-63 letters, digits, `-`, `_` or `.`.
    pub name: String,
    /// The agent's Ed25519 public key, hex: it proves itself with the key on every link.
    pub public_key: String,
    /// Tags of the host's own, added to the activation's.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// The host is a target now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegisterResponse {
    /// `tgt_...`: the agent keeps it with its key.
    pub target_id: String,
    /// The name it was enrolled under.
    pub name: String,
    /// All its tags.
    pub tags: BTreeMap<String, String>,
}

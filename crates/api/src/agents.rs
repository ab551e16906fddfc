//! Agent administration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/agents/{id}/revoke`: the agent's link is cut and it is refused from then on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentRevoked {
    /// The target's id (the request may have named it by name).
    pub id: String,
    /// The target's name.
    pub name: String,
    /// Always `true`.
    pub revoked: bool,
}

/// One enrolled agent as `GET /v1/agents` lists it for administrators: revoked ones too,
/// with what `GET /v1/targets` leaves out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentView {
    /// `tgt_...`: the target the agent serves.
    pub id: String,
    /// The target's name.
    pub name: String,
    /// The target's tags; policies and session settings match on them.
    pub tags: BTreeMap<String, String>,
    /// Its link is up on this server.
    pub online: bool,
    /// When it enrolled, unix milliseconds.
    pub created_at: i64,
    /// When its link last came up or went down, unix milliseconds; `null` if never.
    pub last_seen: Option<i64>,
    /// When it was revoked, unix milliseconds; `null` while it may connect.
    pub revoked_at: Option<i64>,
    /// The activation it enrolled with.
    pub activation_id: String,
    /// The agent's version, from its last inventory.
    pub agent_version: Option<String>,
    /// The host name it reported.
    pub hostname: Option<String>,
    /// The operating system it reported.
    pub os: Option<String>,
}

/// `PUT /v1/agents/{id}/tags`: the target's tags from now on, replacing all it had.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SetTags {
    /// The new tags (may be empty).
    pub tags: BTreeMap<String, String>,
}

/// The tags a target has after `PUT /v1/agents/{id}/tags`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentTags {
    /// The target's id.
    pub id: String,
    /// The target's name.
    pub name: String,
    /// Its tags now.
    pub tags: BTreeMap<String, String>,
    /// Live sessions ended because the old tags allowed them and the new ones do not.
    pub sessions_ended: u64,
}

/// `DELETE /v1/agents/{id}`: the target and its agent's identity are gone; its link was cut
/// and the agent is refused from then on. The session history keeps its name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentRemoved {
    /// The target's id.
    pub id: String,
    /// The target's name, free to enrol again.
    pub name: String,
    /// Always `true`.
    pub removed: bool,
}

//! Targets: the hosts users connect to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One enrolled, unrevoked target, as `GET /v1/targets` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TargetView {
    /// `tgt_...`: stable across renames.
    pub id: String,
    /// What users type after `wicket connect`.
    pub name: String,
    /// Labels from enrolment; policies and session settings match on them.
    pub tags: BTreeMap<String, String>,
    /// Its agent's link is up on this server.
    pub online: bool,
    /// When its agent was last linked, unix milliseconds; `null` if never.
    pub last_seen: Option<i64>,
    /// The agent's version, from its last inventory.
    pub agent_version: Option<String>,
    /// The host name the agent reported. Servers from before inventories omit it.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The operating system the agent reported. Servers from before inventories omit it.
    #[serde(default)]
    pub os: Option<String>,
}

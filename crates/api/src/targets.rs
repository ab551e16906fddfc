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
    /// Whether the policy lets the caller open a shell there as the default run-as user
    /// (what the console's Connect button does). Servers from before the console omit it.
    #[serde(default)]
    pub may_connect: bool,
}

/// A tag as people type it on a command line (`--tag env=prod`): `key=value`, the key not
/// empty. The server bounds and checks both halves when they arrive.
pub fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

//! Activations: the one-time (or N-time) codes that let a host enrol as a target.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/activations`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateActivation {
    /// Tags every target enrolled with this code gets.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Seconds until the code stops working; default one day, at most 30 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
    /// How many hosts may enrol with it; default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_registrations: Option<i64>,
}

/// A new activation, with its code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedActivation {
    /// `act_...`: given to `wicket-agent register --activation-id`.
    pub id: String,
    /// The secret. Shown once; the server keeps only its hash.
    pub code: String,
    /// Unix milliseconds.
    pub expires_at: i64,
    /// How many hosts may enrol with it.
    pub max_registrations: i64,
    /// Tags the enrolled targets get.
    pub tags: BTreeMap<String, String>,
    /// The server's CA fingerprint, for the agent to pin (`--ca-fingerprint`).
    pub ca_fingerprint: String,
}

/// An activation as `GET /v1/activations` lists it (without its code).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ActivationView {
    /// `act_...`.
    pub id: String,
    /// Tags the enrolled targets get.
    pub tags: BTreeMap<String, String>,
    /// Unix milliseconds.
    pub expires_at: i64,
    /// How many hosts may enrol with it.
    pub max_registrations: i64,
    /// How many have.
    pub registrations: i64,
    /// The administrator who made it.
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

//! The Cedar policy set: read, validate, replace, explain.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /v1/policies`: the active set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ActivePolicy {
    /// 0 for the built-in defaults, then one more for each set activated.
    pub version: i64,
    /// The Cedar text.
    pub text: String,
    /// Its policies' ids (`@id`, or positional).
    pub policy_ids: Vec<String>,
}

/// `PUT /v1/policies` and `POST /v1/policies/validate`: a policy set's Cedar text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyText {
    /// The Cedar text, validated strictly against wicket's schema.
    pub text: String,
}

/// One error in a policy set, where an editor can point at it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// From 1.
    pub line: usize,
    /// From 1.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// The policy it is in, when known.
    pub policy_id: Option<String>,
}

/// What validating a set found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Validation {
    /// The set would be accepted by `PUT /v1/policies`.
    pub valid: bool,
    /// Empty when valid.
    pub errors: Vec<Problem>,
    /// The set's policy ids; empty when invalid.
    pub policy_ids: Vec<String>,
}

/// A set stored and activated by `PUT /v1/policies`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyActivated {
    /// The new version.
    pub version: i64,
    /// Its policies' ids.
    pub policy_ids: Vec<String>,
    /// Live sessions ended because the new set no longer allows them.
    pub sessions_ended: u64,
}

/// `POST /v1/policies/explain`: a hypothetical request to decide.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExplainRequest {
    /// The user asking.
    pub user: String,
    /// A wicket action (`connect`, `forward`, `manage_users`...).
    pub action: String,
    /// Target name or id; `null` for admin actions on the server.
    #[serde(default)]
    pub target: Option<String>,
    /// The run-as user asked for (connect, exec and copy only: the other actions run as no
    /// user); `null` resolves it as the broker would for the request.
    #[serde(default)]
    pub run_as: Option<String>,
    /// Evaluate as if the user had logged in with a second factor.
    #[serde(default)]
    pub mfa: bool,
}

/// What the active set decides, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Explanation {
    /// The decision.
    pub allowed: bool,
    /// The policies that made it: the permits that allowed, or the forbids that denied (empty
    /// for the default deny).
    pub policy_ids: Vec<String>,
    /// Policies that failed to evaluate.
    pub errors: Vec<String>,
    /// The user decided for.
    pub user: String,
    /// The user's groups, as the policy saw them.
    pub groups: Vec<String>,
    /// The action decided.
    pub action: String,
    /// `target NAME` or `server`.
    pub resource: String,
    /// The run-as user the decision was for, as a real request would resolve it.
    pub run_as: Option<String>,
    /// The version of the set that decided.
    pub policy_version: i64,
}

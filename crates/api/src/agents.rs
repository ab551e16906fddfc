//! Agent administration.

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

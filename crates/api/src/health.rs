//! Liveness and readiness, for load balancers and orchestrators.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The answer of `/healthz` (`ok`) and `/readyz` (`ready`, or `database unavailable` with a
/// 503). Public, so it says nothing more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready` or `database unavailable`.
    pub status: String,
}

//! Bearer tokens: the live ones, and revoking one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A live token as `GET /v1/tokens` lists it (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// `tok_...`: what to revoke.
    pub id: String,
    /// Its user's name (empty if the user is gone).
    pub user: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub expires_at: i64,
}

/// `POST /v1/tokens/{id}/revoke`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenRevoked {
    /// The token revoked.
    pub id: String,
    /// Always `true`.
    pub revoked: bool,
    /// Live sessions opened with it that were ended.
    pub sessions_ended: u64,
}

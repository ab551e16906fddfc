//! User accounts. Every change that can take access away ends the live sessions it no longer
//! allows, and says how many.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user as `GET /v1/users` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// The user name, also the entity id in policies.
    pub name: String,
    /// An administrator.
    pub is_admin: bool,
    /// Refused at login and by every token.
    pub disabled: bool,
    /// Created by single sign-on (no password).
    pub sso: bool,
    /// Names of the user's groups.
    pub groups: Vec<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// `POST /v1/users`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateUser {
    /// 1-64 letters, digits, `-`, `_`, `.` or `@`.
    pub name: String,
    /// At least 8 characters; `null` or omitted: the server generates one and returns it once.
    #[serde(default)]
    pub password: Option<String>,
    /// Make an administrator.
    #[serde(default)]
    pub admin: bool,
}

/// The user made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedUser {
    /// The user name.
    pub name: String,
    /// The generated password, shown once; `null` when the request gave one.
    pub password: Option<String>,
}

/// `POST /v1/users/{name}/disable` and `/enable`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserDisabled {
    /// The user.
    pub name: String,
    /// Its state now.
    pub disabled: bool,
    /// Live sessions ended because the user may no longer hold them.
    pub sessions_ended: u64,
}

/// `DELETE /v1/users/{name}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserDeleted {
    /// The user.
    pub name: String,
    /// Always `true`.
    pub deleted: bool,
    /// Live sessions of the user's that were ended.
    pub sessions_ended: u64,
}

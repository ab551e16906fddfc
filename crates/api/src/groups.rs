//! Groups: policies grant to groups, so access follows membership.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A group, as listed and as created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Group {
    /// `grp_...`.
    pub id: String,
    /// The name policies use (`Group::"ops"`).
    pub name: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Member user names, sorted.
    pub members: Vec<String>,
}

/// `POST /v1/groups`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateGroup {
    /// 1-64 letters, digits, `-`, `_`, `.` or `@`.
    pub name: String,
}

/// `POST /v1/groups/{name}/members`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AddMember {
    /// The user to add.
    pub user: String,
}

/// A membership added or removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Membership {
    /// The group.
    pub group: String,
    /// The user.
    pub user: String,
    /// Whether the user is a member now.
    pub member: bool,
    /// On a removal: live sessions ended because the membership allowed them. Absent when a
    /// member was added (adding takes nothing away).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_ended: Option<u64>,
}

/// `DELETE /v1/groups/{name}`: the group and its memberships are gone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupDeleted {
    /// The group.
    pub name: String,
    /// Always `true`.
    pub deleted: bool,
    /// Live sessions ended because a membership of the group allowed them.
    pub sessions_ended: u64,
}

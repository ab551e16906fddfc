//! Authentication: the one place that turns a request's bearer token into a [`Caller`].
//!
//! [`crate::routes`] wraps every route in [`crate::middleware::require`] with the route's
//! [`Access`]; a handler behind `User` or `Admin` access can rely on a `Caller` in the request
//! extensions.

use wicket_policy::Action;
use wicket_store::User;

use crate::error::ApiError;
use crate::now_ms;
use crate::secrets::sha256;
use crate::state::AppState;

/// What a route demands before its handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No credentials: health checks, login.
    Public,
    /// Credentials checked by the handler itself, not by a bearer token: enrolment proves an
    /// activation code, the agent link an Ed25519 signature.
    SelfAuthenticated,
    /// Any signed-in user.
    User,
    /// A signed-in user whom the policy allows this admin action on the server (checked
    /// through `authz::authorize`).
    Admin(Action),
}

/// The authenticated user behind a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: User,
    pub token_id: String,
    /// Names of the user's groups, read at authentication so policies see current membership.
    pub groups: Vec<String>,
    /// Where the request came from, for policies and logs.
    pub source_ip: Option<std::net::IpAddr>,
    /// Whether the token's login proved a second factor; policies see it as `context.mfa`.
    pub mfa: bool,
}

/// Checks `Authorization: Bearer <token>`. Every failure is a 401 with a message that says
/// what to do; none reveals whether a user exists.
pub async fn authenticate(state: &AppState, header: Option<&str>) -> Result<Caller, ApiError> {
    let header = header
        .ok_or_else(|| ApiError::unauthorized("missing bearer token; run `wicket login` first"))?;
    let token = header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("malformed Authorization header; expected `Bearer <token>`")
        })?;
    let stored = state
        .store()
        .token_by_hash(&sha256(token.as_bytes()))
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid token; run `wicket login`"))?;
    if stored.revoked_at.is_some() {
        return Err(ApiError::unauthorized("token revoked; run `wicket login`"));
    }
    if stored.expires_at <= now_ms() {
        return Err(ApiError::unauthorized("token expired; run `wicket login`"));
    }
    let user = state
        .store()
        .user_by_id(&stored.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the token's user no longer exists"))?;
    if user.disabled {
        return Err(ApiError::unauthorized("user is disabled"));
    }
    let groups = state.store().groups_of_user(&user.id).await?;
    Ok(Caller {
        user,
        token_id: stored.id,
        groups,
        source_ip: None,
        mfa: stored.mfa,
    })
}

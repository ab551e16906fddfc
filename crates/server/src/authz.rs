//! Authorization: the one function that decides whether a caller may do something.
//!
//! For now the rule is small: administrators may do everything, users may connect to any
//! target. The Cedar policy engine replaces the body of [`authorize`] without touching its
//! callers, which is why every check in the server goes through here.

use axum::http::StatusCode;
use wicket_store::Target;

use crate::auth::Caller;
use crate::error::ApiError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open a shell or run a command on a target.
    Connect,
    /// List targets.
    ListTargets,
    /// Administer the server: users, activations, agents.
    Admin,
}

pub enum Resource<'a> {
    Server,
    Target {
        target: &'a Target,
        run_as: Option<&'a str>,
    },
}

/// Allows or refuses `action` on `resource` for `caller`.
pub fn authorize(caller: &Caller, action: Action, resource: &Resource<'_>) -> Result<(), ApiError> {
    let allowed = match action {
        Action::Admin => caller.user.is_admin,
        Action::ListTargets => true,
        Action::Connect => matches!(resource, Resource::Target { .. }),
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("user {} may not {:?}", caller.user.name, action).to_lowercase(),
        ))
    }
}

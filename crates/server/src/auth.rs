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
    /// What the request came through: the audit says so for every session.
    pub via: Via,
}

/// Where a caller's request came from: a bearer token (the CLI, scripts) or the web console's
/// cookie.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Via {
    #[default]
    Cli,
    Console,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Cli => "cli",
            Via::Console => "console",
        }
    }
}

/// The web console's session cookie. `__Host-` makes browsers refuse it unless it is
/// `Secure`, has `Path=/` and no `Domain`: no other host or plain-HTTP page can set or shadow
/// it. Its value is an ordinary wicket token, so revocation, a disabled user, group changes and
/// policies reach a browser exactly as they reach the CLI.
pub const SESSION_COOKIE: &str = "__Host-wicket";

/// The token in a request's session cookie, if any.
pub fn cookie_token(headers: &axum::http::HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE, MAX_COOKIE_TOKEN)
}

/// The value of the cookie `name` (empty or longer than `max` counts as absent): the one
/// reading of the `Cookie` header, for the console's session and its single sign-on.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str, max: usize) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty() && v.len() <= max)
}

/// The CSRF token that goes with a console session: derived from its wicket token, so the
/// server keeps nothing and a page that cannot read the (HttpOnly) cookie cannot make it.
/// Every state-changing request authenticated by the cookie must carry it in
/// [`CSRF_HEADER`].
pub fn csrf_token(token: &str) -> String {
    let mut input = b"wicket console csrf\0".to_vec();
    input.extend_from_slice(token.as_bytes());
    hex::encode(sha256(&input))
}

/// Longer than any token wicketd issues; a longer cookie is ignored, not looked up.
const MAX_COOKIE_TOKEN: usize = 256;

/// The header a console request carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-wicket-csrf";

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
    authenticate_token(state, token).await
}

/// Checks a token however it came (bearer header or console cookie).
pub async fn authenticate_token(state: &AppState, token: &str) -> Result<Caller, ApiError> {
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
        via: Via::Cli,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{header, HeaderMap, HeaderValue};

    fn cookies(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::COOKIE, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_session_cookie_is_found_among_others_and_nothing_else_is_taken_for_it() {
        let h = cookies(&["a=1; __Host-wicket=tok123; b=2"]);
        assert_eq!(cookie_token(&h).as_deref(), Some("tok123"));
        let h = cookies(&["a=1", "__Host-wicket=tok456"]);
        assert_eq!(cookie_token(&h).as_deref(), Some("tok456"));
        for none in [
            "wicket=tok",
            "__Host-wicket=",
            "x__Host-wicket=tok",
            "__Host-wicketx=tok",
        ] {
            assert_eq!(cookie_token(&cookies(&[none])), None, "{none}");
        }
        let long = format!("__Host-wicket={}", "a".repeat(MAX_COOKIE_TOKEN + 1));
        assert_eq!(cookie_token(&cookies(&[&long])), None);
    }

    #[test]
    fn the_csrf_token_belongs_to_one_token_and_does_not_reveal_it() {
        let a = csrf_token("token-a");
        assert_eq!(a, csrf_token("token-a"));
        assert_ne!(a, csrf_token("token-b"));
        assert_eq!(a.len(), 64);
        assert!(!a.contains("token-a"));
    }
}

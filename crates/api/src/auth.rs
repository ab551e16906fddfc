//! Signing in and out: password login (with a second factor for users who enrolled one),
//! single sign-on, and who a token belongs to.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/auth/login`. A user with multi-factor login who sends only the password gets a
/// 401 whose [`crate::ErrorBody`] has `mfa_required`; the login is then sent again with a code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The user name.
    pub user: String,
    /// The password, checked against the stored argon2id hash.
    pub password: String,
    /// The current 6-digit TOTP code, for users with multi-factor login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<String>,
    /// One of the user's one-time recovery codes, instead of `totp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<String>,
}

/// A successful login, by password or single sign-on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// The bearer token for every later request. The server keeps only its hash.
    pub token: String,
    /// When the token stops working, unix milliseconds.
    pub expires_at: i64,
    /// The user signed in (for single sign-on, the name the provider's claim gave).
    pub user: String,
    /// Whether the user is an administrator (what they may do is still the policy's call).
    pub is_admin: bool,
    /// Whether this login proved a second factor (`context.mfa` in policies). Servers from
    /// before multi-factor login omit it.
    #[serde(default)]
    pub mfa: bool,
}

/// `POST /v1/auth/logout`: the token the request came with is revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoggedOut {
    /// Always `true`: a logout that answers has revoked the token.
    pub revoked: bool,
}

/// `GET /v1/whoami`: whose token this is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// The user the token belongs to.
    pub user: String,
    /// Whether the user is an administrator.
    pub is_admin: bool,
    /// Whether this token's login proved a second factor.
    pub mfa: bool,
}

/// `POST /v1/auth/sso/begin`: the first step of single sign-on, before the browser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BeginRequest {
    /// The client's loopback listener: `http://127.0.0.1:PORT/...` or `http://[::1]:PORT/...`;
    /// the provider sends the browser back there.
    pub redirect_uri: String,
    /// The PKCE S256 challenge; the client keeps the verifier until [`CompleteRequest`].
    pub code_challenge: String,
}

/// Where to send the browser, and the handle of this login request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BeginResponse {
    /// The provider's sign-in URL; its `state` parameter comes back to the listener.
    pub auth_url: String,
    /// Names this login request in [`CompleteRequest`] (kept 5 minutes by the server that
    /// began it).
    pub request_id: String,
}

/// `POST /v1/auth/sso/complete`: what the provider sent back to the loopback listener, traded
/// for a wicket token ([`LoginResponse`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CompleteRequest {
    /// From [`BeginResponse`].
    pub request_id: String,
    /// The `state` the provider sent back, checked against the one the server made.
    pub state: String,
    /// The provider's authorization code, redeemed by the server.
    pub code: String,
    /// The PKCE verifier of the challenge sent to begin.
    pub code_verifier: String,
}

//! The console's sign-in: a password login whose token goes into the session cookie, who is
//! signed in (with the CSRF token the page sends back), and signing out.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use wicket_api::{ConsoleSession, LoginRequest};

use crate::api::login::{login as password_login, logout as revoke};
use crate::auth::{cookie_token, csrf_token, Caller, SESSION_COOKIE};
use crate::error::ApiError;
use crate::secrets::sha256;
use crate::state::AppState;

/// `POST /v1/console/login`: the password login of `POST /v1/auth/login`, with its limits,
/// second factor and audit; the token is set as the cookie, never shown to the page.
pub async fn login(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(req): Json<LoginRequest>,
) -> Response {
    let done = match password_login(State(state), connect, Json(req)).await {
        Ok(Json(done)) => done,
        Err(e) => return e.into_response(),
    };
    let max_age = ((done.expires_at - crate::now_ms()) / 1000).max(0);
    let session = ConsoleSession {
        user: done.user,
        is_admin: done.is_admin,
        mfa: done.mfa,
        expires_at: done.expires_at,
        csrf: csrf_token(&done.token),
    };
    with_cookie(&format!("{}; Max-Age={max_age}", done.token), Json(session))
}

/// `GET /v1/console/me`.
pub async fn me(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Result<Json<ConsoleSession>, ApiError> {
    let token = cookie_token(&headers)
        .ok_or_else(|| ApiError::bad_request("this route is the console's: sign in there"))?;
    let stored = state
        .store()
        .token_by_hash(&sha256(token.as_bytes()))
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid token; sign in again"))?;
    Ok(Json(ConsoleSession {
        is_admin: caller.user.is_admin,
        user: caller.user.name,
        mfa: caller.mfa,
        expires_at: stored.expires_at,
        csrf: csrf_token(&token),
    }))
}

/// `POST /v1/console/logout`: revokes the token and clears the cookie.
pub async fn logout(state: State<AppState>, caller: Extension<Caller>) -> Response {
    match revoke(state, caller).await {
        Ok(done) => with_cookie("; Max-Age=0", done),
        Err(e) => e.into_response(),
    }
}

/// `body` with the session cookie set to `value` (the token and its attributes).
fn with_cookie(value: &str, body: impl IntoResponse) -> Response {
    let cookie = format!("{SESSION_COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=Strict");
    let mut response = body.into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

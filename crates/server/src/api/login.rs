//! Password login and logout.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::now_ms;
use crate::secrets::{decoy_hash, new_token, sha256, verify_password};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginRequest {
    pub user: String,
    pub password: String,
}

#[derive(Serialize, Deserialize)]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: i64,
    pub user: String,
    pub is_admin: bool,
}

pub async fn login(
    State(state): State<AppState>,
    Json(req): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let user = state.store().user_by_name(&req.user).await?;
    let stored = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| decoy_hash().to_string());
    let password = req.password;
    // argon2 takes tens of milliseconds of CPU: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .map_err(ApiError::internal)?;
    let user = match user {
        Some(u) if ok && !u.disabled => u,
        Some(u) if ok && u.disabled => return Err(ApiError::unauthorized("user is disabled")),
        _ => {
            tracing::info!(user = %req.user, "failed login");
            return Err(ApiError::unauthorized("invalid user name or password"));
        }
    };
    let token = new_token();
    let now = now_ms();
    let expires_at = now + state.config().token_ttl.as_millis() as i64;
    state
        .store()
        .insert_token(&user.id, &sha256(token.as_bytes()), now, expires_at)
        .await?;
    tracing::info!(user = %user.name, "login");
    Ok(Json(LoginResponse {
        token,
        expires_at,
        user: user.name,
        is_admin: user.is_admin,
    }))
}

/// Revokes the token the request came with.
pub async fn logout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state
        .store()
        .revoke_token(&caller.token_id, now_ms())
        .await?;
    Ok(Json(serde_json::json!({ "revoked": true })))
}

#[derive(Serialize)]
pub struct WhoAmI {
    pub user: String,
    pub is_admin: bool,
}

pub async fn whoami(Extension(caller): Extension<Caller>) -> Json<WhoAmI> {
    Json(WhoAmI {
        user: caller.user.name,
        is_admin: caller.user.is_admin,
    })
}

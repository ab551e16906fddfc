//! Bearer tokens: list the live ones, revoke any. Revocation ends the sessions opened with it.

use axum::extract::{Path, State};
use axum::{Extension, Json};

use wicket_api::{TokenRevoked, TokenView};

use crate::auth::Caller;

use crate::error::ApiError;
use crate::now_ms;
use crate::state::AppState;

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<TokenView>>, ApiError> {
    let users = state.store().list_users().await?;
    let tokens = state.store().list_active_tokens(now_ms()).await?;
    Ok(Json(
        tokens
            .into_iter()
            .map(|t| TokenView {
                user: users
                    .iter()
                    .find(|u| u.id == t.user_id)
                    .map(|u| u.name.clone())
                    .unwrap_or_default(),
                id: t.id,
                created_at: t.created_at,
                expires_at: t.expires_at,
            })
            .collect(),
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<TokenRevoked>, ApiError> {
    if !state.store().revoke_token(&id, now_ms()).await? {
        return Err(ApiError::not_found(format!("no live token {id}")));
    }
    let ended = crate::broker::recheck(&state).await;
    // Taking access away is never refused for want of an audit record: recorded, not awaited.
    state
        .audit()
        .record(crate::audit::event(
            &caller.user.name,
            caller.source_ip,
            "token.revoke",
            &format!("token:{id}"),
            wicket_audit::Outcome::Success,
            serde_json::json!({ "sessions_ended": ended }),
        ))
        .await;
    tracing::info!(token = %id, sessions_ended = ended, "token revoked");
    Ok(Json(TokenRevoked {
        id,
        revoked: true,
        sessions_ended: ended as u64,
    }))
}

//! Groups: policies grant to groups, so access follows membership.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use wicket_store::{Group, StoreError};

use crate::api::users::check_name;
use crate::error::ApiError;
use crate::now_ms;
use crate::state::AppState;

fn map(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(m) => ApiError::conflict(m),
        StoreError::NotFound(m) => ApiError::not_found(m),
        other => other.into(),
    }
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<Group>>, ApiError> {
    Ok(Json(state.store().list_groups().await?))
}

#[derive(Deserialize)]
pub struct CreateGroup {
    pub name: String,
}

pub async fn create(
    State(state): State<AppState>,
    Json(req): Json<CreateGroup>,
) -> Result<Json<Group>, ApiError> {
    check_name(&req.name)?;
    let g = state
        .store()
        .create_group(&req.name, now_ms())
        .await
        .map_err(map)?;
    tracing::info!(group = %g.name, "group created");
    Ok(Json(g))
}

#[derive(Deserialize)]
pub struct Member {
    pub user: String,
}

pub async fn add_member(
    State(state): State<AppState>,
    Path(group): Path<String>,
    Json(req): Json<Member>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state
        .store()
        .add_group_member(&group, &req.user)
        .await
        .map_err(map)?;
    tracing::info!(%group, user = %req.user, "member added");
    Ok(Json(
        serde_json::json!({ "group": group, "user": req.user, "member": true }),
    ))
}

/// Removing a member can take access away: live sessions are re-checked at once.
pub async fn remove_member(
    State(state): State<AppState>,
    Path((group, user)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !state
        .store()
        .remove_group_member(&group, &user)
        .await
        .map_err(map)?
    {
        return Err(ApiError::not_found(format!(
            "{user} is not a member of {group}"
        )));
    }
    let ended = crate::broker::recheck(&state).await;
    tracing::info!(%group, %user, sessions_ended = ended, "member removed");
    Ok(Json(
        serde_json::json!({ "group": group, "user": user, "member": false, "sessions_ended": ended }),
    ))
}

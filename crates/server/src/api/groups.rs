//! Groups: policies grant to groups, so access follows membership.

use axum::extract::{Path, State};
use axum::Json;
use wicket_api::{AddMember, CreateGroup, Group, GroupDeleted, Membership};
use wicket_store::StoreError;

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

/// A group as the API shows it.
fn view(g: wicket_store::Group) -> Group {
    Group {
        id: g.id,
        name: g.name,
        created_at: g.created_at,
        members: g.members,
    }
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<Group>>, ApiError> {
    let groups = state.store().list_groups().await?;
    Ok(Json(groups.into_iter().map(view).collect()))
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
    Ok(Json(view(g)))
}

pub async fn add_member(
    State(state): State<AppState>,
    Path(group): Path<String>,
    Json(req): Json<AddMember>,
) -> Result<Json<Membership>, ApiError> {
    state
        .store()
        .add_group_member(&group, &req.user)
        .await
        .map_err(map)?;
    tracing::info!(%group, user = %req.user, "member added");
    Ok(Json(Membership {
        group,
        user: req.user,
        member: true,
        sessions_ended: None,
    }))
}

/// Removing a member can take access away: live sessions are re-checked at once.
pub async fn remove_member(
    State(state): State<AppState>,
    Path((group, user)): Path<(String, String)>,
) -> Result<Json<Membership>, ApiError> {
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
    Ok(Json(Membership {
        group,
        user,
        member: false,
        sessions_ended: Some(ended as u64),
    }))
}

/// Deleting a group takes every membership of it away: live sessions are re-checked at once,
/// as after removing a member.
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<GroupDeleted>, ApiError> {
    if !state.store().delete_group(&name).await.map_err(map)? {
        return Err(ApiError::not_found(format!("no group named {name:?}")));
    }
    let ended = crate::broker::recheck(&state).await;
    tracing::info!(group = %name, sessions_ended = ended, "group deleted");
    Ok(Json(GroupDeleted {
        name,
        deleted: true,
        sessions_ended: ended as u64,
    }))
}

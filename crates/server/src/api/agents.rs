//! Agent administration: listing every enrolled agent, revoking one (its link is cut at once
//! and refused afterwards), changing a target's tags, and removing a target altogether.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use wicket_api::{AgentRemoved, AgentRevoked, AgentTags, AgentView, SetTags};
use wicket_proto::ErrorCode;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::now_ms;
use crate::state::AppState;

/// A target by name, else by id, revoked ones included: an administrator removes or retags
/// what users no longer see.
async fn find_any(state: &AppState, wanted: &str) -> Result<wicket_store::Target, ApiError> {
    let found = state.store().target_by_name_or_id(wanted).await?;
    found.ok_or_else(|| ApiError::not_found(format!("unknown target {wanted:?}")))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<AgentView>>, ApiError> {
    let targets = state.store().list_targets().await?;
    let views = targets
        .into_iter()
        .map(|t| AgentView {
            online: state.agents().is_online(&t.id),
            agent_version: t.inventory.as_ref().map(|i| i.agent_version.clone()),
            hostname: t.inventory.as_ref().map(|i| i.hostname.clone()),
            os: t.inventory.as_ref().map(|i| i.os.clone()),
            id: t.id,
            name: t.name,
            tags: t.tags,
            created_at: t.created_at,
            last_seen: t.last_seen,
            revoked_at: t.revoked_at,
            activation_id: t.activation_id,
        })
        .collect();
    Ok(Json(views))
}

pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AgentRevoked>, ApiError> {
    let target = crate::broker::find_target(&state, &id).await?;
    state.store().revoke_target(&target.id, now_ms()).await?;
    if let Some(link) = state.agents().get(&target.id) {
        link.close(ErrorCode::Unauthorized, "this agent has been revoked");
    }
    tracing::info!(target = %target.id, name = %target.name, "agent revoked");
    Ok(Json(AgentRevoked {
        id: target.id,
        name: target.name,
        revoked: true,
    }))
}

/// Tags decide what policies allow. The change is recorded, with the tags before and after,
/// before it is made; live sessions are re-checked at once, since new tags can take access
/// away.
pub async fn retag(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(req): Json<SetTags>,
) -> Result<Json<AgentTags>, ApiError> {
    crate::limits::tags(&req.tags)?;
    let target = find_any(&state, &id).await?;
    // New tags can grant access as well as take it away: on record first, or not at all.
    state
        .audit()
        .append(crate::audit::event(
            &caller.user.name,
            caller.source_ip,
            "agent.retag",
            &format!("target:{}", target.name),
            wicket_audit::Outcome::Success,
            serde_json::json!({
                "target_id": target.id,
                "before": target.tags,
                "after": req.tags,
            }),
        ))
        .await?;
    if !state.store().set_target_tags(&target.id, &req.tags).await? {
        return Err(ApiError::not_found(format!("unknown target {id:?}")));
    }
    let ended = crate::broker::recheck(&state).await;
    tracing::info!(target = %target.id, name = %target.name, sessions_ended = ended, "agent retagged");
    Ok(Json(AgentTags {
        id: target.id,
        name: target.name,
        tags: req.tags,
        sessions_ended: ended as u64,
    }))
}

/// Deletes the target first, so the agent's next attempt finds no identity, then cuts its
/// link, which ends every session and forward on it.
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AgentRemoved>, ApiError> {
    let target = find_any(&state, &id).await?;
    if !state.store().delete_target(&target.id).await? {
        return Err(ApiError::not_found(format!("unknown target {id:?}")));
    }
    if let Some(link) = state.agents().get(&target.id) {
        link.close(ErrorCode::Unauthorized, "this agent has been removed");
    }
    tracing::info!(target = %target.id, name = %target.name, "agent removed");
    Ok(Json(AgentRemoved {
        id: target.id,
        name: target.name,
        removed: true,
    }))
}

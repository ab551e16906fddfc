//! Agent administration: revoking an agent cuts its link at once and refuses it afterwards.

use axum::extract::{Path, State};
use axum::Json;
use wicket_api::AgentRevoked;
use wicket_proto::ErrorCode;

use crate::error::ApiError;
use crate::now_ms;
use crate::state::AppState;

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

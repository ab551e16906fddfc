//! Listing targets.

use axum::extract::State;
use axum::{Extension, Json};
use wicket_api::TargetView;

use crate::auth::Caller;
use crate::authz::{authorize, Action, Facts, Resource};
use crate::error::ApiError;
use crate::state::AppState;

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<TargetView>>, ApiError> {
    authorize(
        &state,
        &caller,
        Action::ListTargets,
        Resource::Server,
        &Facts::default(),
    )
    .await?;
    let targets = state.store().list_targets().await?;
    let views = targets
        .into_iter()
        .filter(|t| t.revoked_at.is_none())
        .map(|t| TargetView {
            online: state.agents().is_online(&t.id),
            agent_version: t.inventory.as_ref().map(|i| i.agent_version.clone()),
            hostname: t.inventory.as_ref().map(|i| i.hostname.clone()),
            os: t.inventory.as_ref().map(|i| i.os.clone()),
            id: t.id,
            name: t.name,
            tags: t.tags,
            last_seen: t.last_seen,
        })
        .collect();
    Ok(Json(views))
}

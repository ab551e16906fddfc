//! Listing targets.

use axum::extract::State;
use axum::{Extension, Json};
use wicket_api::TargetView;

use crate::auth::Caller;
use crate::authz::{authorize, evaluate, principal, Action, Facts, Resource};
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
    // One decision per target, not recorded: the list only says what a Connect would meet,
    // the broker still decides (and records) when one is made.
    let policies = state.policies();
    let who = principal(&caller);
    let facts = Facts {
        mfa: caller.mfa,
        ..Facts::default()
    };
    let views = targets
        .into_iter()
        .filter(|t| t.revoked_at.is_none())
        .map(|t| TargetView {
            may_connect: crate::broker::resolve_run_as(&state, &t, None).is_ok_and(|run_as| {
                let facts = Facts {
                    run_as: Some(run_as),
                    ..facts.clone()
                };
                evaluate(
                    &policies,
                    &who,
                    Action::Connect,
                    Resource::Target(&t),
                    caller.source_ip,
                    &facts,
                )
                .allowed
            }),
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

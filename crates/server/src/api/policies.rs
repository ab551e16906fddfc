//! The Cedar policy set: read, validate, replace, explain. A set that fails validation is never
//! stored or activated.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use wicket_api::{
    ActivePolicy, ExplainRequest, Explanation, PolicyActivated, PolicyText, Problem, Validation,
};
use wicket_policy::{PolicyError, PolicySet};

use crate::auth::Caller;
use crate::authz::{evaluate, principal, Action, Facts, Resource};
use crate::error::ApiError;
use crate::now_ms;
use crate::state::AppState;

pub async fn get(State(state): State<AppState>) -> Json<ActivePolicy> {
    let set = state.policies();
    Json(ActivePolicy {
        version: state.policy_version(),
        text: set.text().to_string(),
        policy_ids: set.ids(),
    })
}

fn problems(e: &PolicyError) -> Vec<Problem> {
    let diags = match e {
        PolicyError::Parse(d) | PolicyError::Invalid(d) => d,
    };
    diags
        .iter()
        .map(|d| Problem {
            line: d.line,
            column: d.column,
            message: d.message.clone(),
            policy_id: d.policy_id.clone(),
        })
        .collect()
}

pub async fn validate(Json(req): Json<PolicyText>) -> Json<Validation> {
    Json(match PolicySet::parse(&req.text) {
        Ok(set) => Validation {
            valid: true,
            errors: Vec::new(),
            policy_ids: set.ids(),
        },
        Err(e) => Validation {
            valid: false,
            errors: problems(&e),
            policy_ids: Vec::new(),
        },
    })
}

/// Validates, stores as the next version, activates, and re-checks live sessions.
pub async fn set(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<PolicyText>,
) -> Result<Json<PolicyActivated>, ApiError> {
    let set = PolicySet::parse(&req.text).map_err(|e| {
        let lines: Vec<String> = problems(&e)
            .iter()
            .map(|p| format!("line {}, column {}: {}", p.line, p.column, p.message))
            .collect();
        ApiError::bad_request(format!("policy set not activated:\n{}", lines.join("\n")))
    })?;
    let stored = match state
        .store()
        .insert_policy(&req.text, &caller.user.name, now_ms())
        .await
    {
        Ok(v) => v,
        Err(wicket_store::StoreError::Conflict(m)) => return Err(ApiError::conflict(m)),
        Err(e) => return Err(e.into()),
    };
    let ids = set.ids();
    state.set_policies(stored.version, Arc::new(set));
    let ended = crate::broker::recheck(&state).await;
    tracing::info!(version = stored.version, by = %caller.user.name, sessions_ended = ended, "policy set activated");
    Ok(Json(PolicyActivated {
        version: stored.version,
        policy_ids: ids,
        sessions_ended: ended as u64,
    }))
}

/// What the active set decides for a hypothetical request, and which policies decide it.
pub async fn explain(
    State(state): State<AppState>,
    Json(req): Json<ExplainRequest>,
) -> Result<Json<Explanation>, ApiError> {
    let action: Action = req
        .action
        .parse()
        .map_err(|_| ApiError::bad_request(format!("unknown action {:?}", req.action)))?;
    let user = state
        .store()
        .user_by_name(&req.user)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user named {:?}", req.user)))?;
    let groups = state.store().groups_of_user(&user.id).await?;
    let caller = Caller {
        user,
        token_id: String::new(),
        groups: groups.clone(),
        source_ip: None,
        mfa: false,
        via: crate::auth::Via::Cli,
    };
    let target = match &req.target {
        Some(t) => Some(crate::broker::find_target(&state, t).await?),
        None => None,
    };
    let resource = match &target {
        Some(t) => Resource::Target(t),
        None => Resource::Server,
    };
    // The run-as user the request would really carry: the same resolution as the broker's
    // for a session, command or copy on a target; none for the actions that name no user,
    // which the broker decides without one (a forbid on `context.run_as` must not show here
    // as denying a forward the broker would allow).
    if !action.runs_as_user() && req.run_as.is_some() {
        return Err(ApiError::bad_request(format!(
            "{} runs as no user on the target: --run-as applies to connect, exec and copy",
            action.as_str()
        )));
    }
    let run_as = match &target {
        Some(t) if action.runs_as_user() => Some(crate::broker::resolve_run_as(
            &state,
            t,
            req.run_as.clone(),
        )?),
        _ => None,
    };
    let facts = Facts {
        run_as: run_as.clone(),
        mfa: req.mfa,
        ..Facts::default()
    };
    let d = evaluate(
        &state.policies(),
        &principal(&caller),
        action,
        resource,
        None,
        &facts,
    );
    Ok(Json(Explanation {
        allowed: d.allowed,
        policy_ids: d.policy_ids,
        errors: d.errors,
        user: caller.user.name,
        groups,
        action: action.as_str().to_string(),
        resource: target
            .map(|t| format!("target {}", t.name))
            .unwrap_or_else(|| "server".into()),
        run_as,
        policy_version: state.policy_version(),
    }))
}

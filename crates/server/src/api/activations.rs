//! Activations: the one-time (or N-time) codes that let a host enrol as a target.

use axum::extract::State;
use axum::{Extension, Json};
use wicket_api::{ActivationView, CreateActivation, CreatedActivation};
use wicket_store::{Activation, NewActivation};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::now_ms;
use crate::secrets::{new_activation_code, sha256};
use crate::state::AppState;

/// Activations may live at most this long: a forgotten code should not stay valid for years.
const MAX_EXPIRY_SECS: u64 = 30 * 24 * 3600;

/// An activation as the API lists it: everything but the code's hash.
fn view(a: Activation) -> ActivationView {
    ActivationView {
        id: a.id,
        tags: a.tags,
        expires_at: a.expires_at,
        max_registrations: a.max_registrations,
        registrations: a.registrations,
        created_by: a.created_by,
        created_at: a.created_at,
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<CreateActivation>,
) -> Result<Json<CreatedActivation>, ApiError> {
    let expires_in = req.expires_in_secs.unwrap_or(24 * 3600);
    if expires_in == 0 || expires_in > MAX_EXPIRY_SECS {
        return Err(ApiError::bad_request(format!(
            "expiry must be between 1 second and {} days",
            MAX_EXPIRY_SECS / 86400
        )));
    }
    let max = req.max_registrations.unwrap_or(1);
    if !(1..=100_000).contains(&max) {
        return Err(ApiError::bad_request(
            "max registrations must be between 1 and 100000",
        ));
    }
    crate::limits::tags(&req.tags)?;
    let code = new_activation_code();
    let now = now_ms();
    let created = state
        .store()
        .create_activation(NewActivation {
            code_hash: sha256(code.as_bytes()),
            tags: req.tags,
            expires_at: now + (expires_in as i64) * 1000,
            max_registrations: max,
            created_by: caller.user.name.clone(),
            now,
        })
        .await?;
    tracing::info!(activation = %created.id, by = %caller.user.name, "activation created");
    Ok(Json(CreatedActivation {
        id: created.id,
        code,
        expires_at: created.expires_at,
        max_registrations: created.max_registrations,
        tags: created.tags,
        ca_fingerprint: state.ca_fingerprint().to_string(),
    }))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<ActivationView>>, ApiError> {
    let all = state.store().list_activations().await?;
    Ok(Json(all.into_iter().map(view).collect()))
}

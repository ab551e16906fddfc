//! Enrolment: a host trades an activation code and its public key for a target id.

use axum::extract::State;
use axum::Json;
use wicket_api::{RegisterRequest, RegisterResponse};
use wicket_store::{NewTarget, RegisterError};

use crate::error::ApiError;
use crate::now_ms;
use crate::secrets::sha256;
use crate::state::AppState;

/// Names are what users type after `wicket connect`: keep them shell- and DNS-friendly.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid target name \"{}\": use 1-63 letters, digits, '-', '_' or '.'",
            crate::limits::shown(name)
        )))
    }
}

pub async fn register(
    State(state): State<AppState>,
    connect: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    Json(req): Json<RegisterRequest>,
) -> Result<Json<RegisterResponse>, ApiError> {
    let source = connect.map(|axum::Extension(axum::extract::ConnectInfo(a))| a.ip());
    crate::limits::field("activation id", &req.activation_id, crate::limits::CODE)?;
    crate::limits::length("activation code", &req.activation_code, crate::limits::CODE)?;
    check_name(&req.name)?;
    crate::limits::tags(&req.tags)?;
    let public_key = hex::decode(&req.public_key)
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or_else(|| ApiError::bad_request("public key must be 32 bytes of hex (Ed25519)"))?;
    let result = state
        .store()
        .register_target(
            &req.activation_id,
            &sha256(req.activation_code.as_bytes()),
            now_ms(),
            NewTarget {
                name: req.name.clone(),
                public_key,
                tags: req.tags,
            },
        )
        .await;
    let refused = |reason: String| {
        crate::audit::event(
            &format!("activation:{}", req.activation_id),
            source,
            "agent.enrol",
            &format!("target:{}", req.name),
            wicket_audit::Outcome::Denied,
            serde_json::json!({ "reason": reason }),
        )
    };
    if let Err(e) = &result {
        if !matches!(e, RegisterError::Store(_)) {
            let _ = state.audit().append(refused(e.to_string())).await;
        }
    }
    let target = match result {
        Ok(t) => t,
        Err(RegisterError::Store(e)) => return Err(e.into()),
        Err(e @ RegisterError::NameTaken(_)) => return Err(ApiError::conflict(e.to_string())),
        Err(e) => {
            tracing::info!(activation = %req.activation_id, error = %e, "enrolment refused");
            return Err(ApiError::forbidden(e.to_string()));
        }
    };
    tracing::info!(target = %target.id, name = %target.name, "agent enrolled");
    // Awaited so the agent hears it is enrolled only once that is on record; the target row
    // exists already, so a failure here is logged by `append`, not undone.
    let _ = state
        .audit()
        .append(crate::audit::event(
            &format!("agent:{}", target.id),
            source,
            "agent.enrol",
            &format!("target:{}", target.name),
            wicket_audit::Outcome::Success,
            serde_json::json!({
                "activation_id": target.activation_id,
                "target_id": target.id,
                "tags": target.tags,
            }),
        ))
        .await;
    Ok(Json(RegisterResponse {
        target_id: target.id,
        name: target.name,
        tags: target.tags,
    }))
}

//! Liveness and readiness for load balancers and orchestrators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use wicket_api::Health;

use crate::state::AppState;

/// The process is up.
pub async fn healthz() -> Json<Health> {
    Json(health("ok"))
}

/// The process can serve: the database answers. Public, so it says nothing else (how many
/// agents are linked is for the people on call, not for whoever can reach the port).
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    match state.store().ping().await {
        Ok(()) => (StatusCode::OK, Json(health("ready"))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(health("database unavailable")),
            )
        }
    }
}

fn health(status: &str) -> Health {
    Health {
        status: status.into(),
    }
}

//! Reading the audit log: events with filters and paging, the signed checkpoints, the public
//! key, and seals for export segments. All behind the `view_audit` admin action. The client
//! verifies what it reads itself (`wicket audit verify`): nothing here asks to be trusted.

use axum::extract::{Query, State};
use axum::Json;
use wicket_api::{CheckpointQuery, EventPage, EventQuery, PublicKey, SealRequest};
use wicket_audit::{Checkpoint, Seal};
use wicket_store::{AuditFilter, AUDIT_PAGE_MAX};

use crate::error::ApiError;
use crate::state::AppState;

pub async fn events(
    State(state): State<AppState>,
    Query(q): Query<EventQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let limit = q.limit.unwrap_or(AUDIT_PAGE_MAX).clamp(1, AUDIT_PAGE_MAX);
    let newest = q.newest.unwrap_or(false);
    let events = state
        .store()
        .list_audit(&AuditFilter {
            after_seq: q.after,
            before_seq: q.before,
            since: q.since,
            until: q.until,
            actor: q.user,
            action: q.action,
            resource: q.target.map(|t| format!("target:{t}")),
            limit: Some(limit),
            newest,
        })
        .await?;
    // A full page may have more beyond it: in the direction the page was taken.
    let full = events.len() == limit as usize;
    let (next_after, next_before) = if newest {
        (None, events.first().filter(|_| full).map(|e| e.event.seq))
    } else {
        (events.last().filter(|_| full).map(|e| e.event.seq), None)
    };
    Ok(Json(EventPage {
        events,
        next_after,
        next_before,
    }))
}

pub async fn checkpoints(
    State(state): State<AppState>,
    Query(q): Query<CheckpointQuery>,
) -> Result<Json<Vec<Checkpoint>>, ApiError> {
    let cps = state
        .store()
        .list_audit_checkpoints(q.after.unwrap_or(0), q.limit.unwrap_or(AUDIT_PAGE_MAX))
        .await?;
    Ok(Json(cps))
}

pub async fn public_key(State(state): State<AppState>) -> Json<PublicKey> {
    Json(PublicKey {
        algorithm: "ed25519".into(),
        public_key: hex::encode(state.audit().public_key()),
    })
}

/// Signs a seal over events `first_seq..=last_seq`, after checking they chain (and, from
/// event 1, start at the genesis hash). A server never seals a stretch it can see is broken.
pub async fn seal(
    State(state): State<AppState>,
    Json(req): Json<SealRequest>,
) -> Result<Json<Seal>, ApiError> {
    let (_, seal) = crate::segments::seal_range(&state, req.first_seq, req.last_seq).await?;
    Ok(Json(seal))
}

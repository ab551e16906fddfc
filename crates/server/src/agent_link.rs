//! The agents' endpoint: `GET /v1/agent/link`, a WebSocket each agent keeps open.
//!
//! The agent proves its identity in-band with an Ed25519 signature over a fresh nonce (see
//! docs/PROTOCOL.md for why a signed challenge rather than mutual TLS). A link that fails the
//! handshake is closed with an error frame naming the reason.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::response::Response;
use wicket_mux::Transport;
use wicket_proto::handshake::{agent_proof_message, AgentProof};
use wicket_proto::ErrorCode;
use wicket_store::Inventory;

use wicket_audit::Outcome;

use crate::audit;
use crate::handshake::{hello, refuse, welcome, Refusal};
use crate::secrets::verify_ed25519;
use crate::state::AppState;
use crate::{now_ms, ws};

pub async fn upgrade(
    State(state): State<AppState>,
    connect: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let source = connect.map(|axum::Extension(axum::extract::ConnectInfo(a))| a.ip());
    ws::limit(upgrade).on_upgrade(move |socket| async move {
        let t = ws::transport(socket);
        serve_agent(state, t, source).await;
    })
}

async fn serve_agent(state: AppState, mut t: Transport, source: Option<std::net::IpAddr>) {
    let link_event = |target_id: &str, action: &str, outcome, details| {
        audit::event(
            &format!("agent:{target_id}"),
            source,
            action,
            &format!("target:{target_id}"),
            outcome,
            details,
        )
    };
    let (target_id, version, inventory) = match handshake(&state, &mut t).await {
        Ok(v) => v,
        Err(r) => {
            state
                .audit()
                .record(link_event(
                    "?",
                    "agent.connect",
                    Outcome::Denied,
                    serde_json::json!({ "reason": r.1 }),
                ))
                .await;
            return refuse(&mut t, r).await;
        }
    };
    // Fail closed: a link that is not on record is not accepted.
    let connected = link_event(
        &target_id,
        "agent.connect",
        Outcome::Success,
        serde_json::json!({
            "hostname": inventory.hostname,
            "agent_version": inventory.agent_version,
        }),
    );
    if let Err(e) = state.audit().append(connected).await {
        return refuse(&mut t, Refusal(ErrorCode::Internal, e.to_string())).await;
    }
    // Agents open no channels towards the server; dropping the receiver refuses any attempt.
    // Agents open no channels; the limit only matters to a broken one.
    let max_channels = wicket_mux::MuxConfig::default().max_channels;
    let Some((mux, incoming)) = welcome(&state, t, version, max_channels).await else {
        return;
    };
    drop(incoming);
    let conn = state
        .agents()
        .insert(&target_id, mux.clone(), version, &inventory.user, now_ms());
    let _ = state
        .store()
        .record_target_seen(&target_id, now_ms(), Some(&inventory))
        .await;
    tracing::info!(target = %target_id, host = %inventory.hostname, "agent connected");
    let why = mux.closed().await;
    if state.agents().remove(&target_id, conn) {
        tracing::info!(target = %target_id, reason = %why, "agent disconnected");
    }
    state
        .audit()
        .record(link_event(
            &target_id,
            "agent.disconnect",
            Outcome::Success,
            serde_json::json!({ "reason": why.to_string() }),
        ))
        .await;
    let _ = state
        .store()
        .record_target_seen(&target_id, now_ms(), None)
        .await;
}

async fn handshake(
    state: &AppState,
    t: &mut Transport,
) -> Result<(String, u16, Inventory), Refusal> {
    let (nonce, hello) = hello(t).await?;
    let AgentProof {
        target_id,
        signature,
        inventory,
    } = hello.agent.ok_or_else(|| {
        Refusal(
            ErrorCode::Unauthorized,
            "an agent link needs an agent proof".into(),
        )
    })?;
    let unauthorized = |m: &str| Refusal(ErrorCode::Unauthorized, m.to_string());
    let target = state
        .store()
        .target_by_id(&target_id)
        .await
        .map_err(|e| Refusal(ErrorCode::Internal, e.to_string()))?
        .ok_or_else(|| {
            unauthorized("unknown agent identity; enrol again with `wicket-agent register`")
        })?;
    if target.revoked_at.is_some() {
        return Err(unauthorized("this agent has been revoked"));
    }
    let signature = hex::decode(&signature).map_err(|_| unauthorized("malformed signature"))?;
    if !verify_ed25519(
        &target.public_key,
        &agent_proof_message(&nonce, &target_id),
        &signature,
    ) {
        return Err(unauthorized("agent signature does not verify"));
    }
    let mut inventory = inventory;
    crate::limits::inventory(&mut inventory);
    let inventory = Inventory {
        user: inventory.user,
        hostname: inventory.hostname,
        os: inventory.os,
        kernel: inventory.kernel,
        arch: inventory.arch,
        addresses: inventory.addresses,
        agent_version: inventory.agent_version,
    };
    Ok((target_id, hello.version, inventory))
}

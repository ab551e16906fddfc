//! The agents' endpoint: `GET /v1/agent/link`, a WebSocket each agent keeps open.
//!
//! The agent proves its identity in-band with an Ed25519 signature over a fresh nonce (see
//! docs/PROTOCOL.md for why a signed challenge rather than mutual TLS). A link that fails the
//! handshake is closed with an error frame naming the reason.

use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::response::Response;
use wicket_mux::{Mux, MuxConfig, Role, Transport, TransportError};
use wicket_proto::handshake::{agent_proof_message, AgentProof};
use wicket_proto::{ErrorCode, Frame, ServerHello, Welcome, SUPPORTED_VERSIONS};
use wicket_store::Inventory;

use crate::secrets::{new_nonce, verify_ed25519};
use crate::state::AppState;
use crate::{now_ms, ws, VERSION};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn upgrade(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    ws::limit(upgrade).on_upgrade(move |socket| async move {
        let t = ws::transport(socket);
        serve_agent(state, t).await;
    })
}

/// A refusal during the handshake: sent to the agent, then the link closes.
struct Refusal(ErrorCode, String);

impl From<TransportError> for Refusal {
    fn from(e: TransportError) -> Self {
        Refusal(ErrorCode::Protocol, e.to_string())
    }
}

async fn serve_agent(state: AppState, mut t: Transport) {
    let (target_id, version, inventory) = match handshake(&state, &mut t).await {
        Ok(v) => v,
        Err(Refusal(code, reason)) => {
            tracing::warn!(%reason, "agent link refused");
            let _ = t
                .send_frame(&Frame::Error {
                    channel: 0,
                    code,
                    reason,
                })
                .await;
            return;
        }
    };
    let heartbeat = state.config().heartbeat;
    let welcome = Frame::Welcome(Welcome {
        version,
        heartbeat_secs: heartbeat.as_secs().max(1) as u32,
    });
    if t.send_frame(&welcome).await.is_err() {
        return;
    }
    let config = MuxConfig {
        idle_timeout: Some(heartbeat * 3),
        ..MuxConfig::default()
    };
    // Agents open no channels towards the server; dropping the receiver refuses any attempt.
    let (mux, incoming) = Mux::start(t, Role::Acceptor, config);
    drop(incoming);
    let conn = state.agents().insert(&target_id, mux.clone(), now_ms());
    let _ = state
        .store()
        .record_target_seen(&target_id, now_ms(), Some(&inventory))
        .await;
    tracing::info!(target = %target_id, host = %inventory.hostname, "agent connected");
    let why = mux.closed().await;
    if state.agents().remove(&target_id, conn) {
        tracing::info!(target = %target_id, reason = %why, "agent disconnected");
    }
    let _ = state
        .store()
        .record_target_seen(&target_id, now_ms(), None)
        .await;
}

async fn handshake(
    state: &AppState,
    t: &mut Transport,
) -> Result<(String, u16, Inventory), Refusal> {
    let nonce = new_nonce();
    t.send_frame(&Frame::ServerHello(ServerHello {
        versions: SUPPORTED_VERSIONS.to_vec(),
        nonce: nonce.clone(),
        server_version: VERSION.into(),
    }))
    .await?;
    let hello = match t.recv_frame(HANDSHAKE_TIMEOUT).await? {
        Frame::ClientHello(h) => h,
        other => {
            return Err(Refusal(
                ErrorCode::Protocol,
                format!("expected a client hello, got {:?}", other.kind()),
            ))
        }
    };
    if !SUPPORTED_VERSIONS.contains(&hello.version) {
        return Err(Refusal(
            ErrorCode::VersionMismatch,
            format!(
                "protocol version {} not supported; this server speaks {:?}",
                hello.version, SUPPORTED_VERSIONS
            ),
        ));
    }
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
    let inventory = Inventory {
        hostname: inventory.hostname,
        os: inventory.os,
        kernel: inventory.kernel,
        arch: inventory.arch,
        addresses: inventory.addresses,
        agent_version: inventory.agent_version,
    };
    Ok((target_id, hello.version, inventory))
}

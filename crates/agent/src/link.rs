//! The outbound link: dial, prove who we are, serve sessions, and come back when it drops.

use std::future::Future;
use std::time::Duration;

use wicket_dial::ServerUrl;
use wicket_mux::{Mux, MuxConfig, Role, TransportError};
use wicket_proto::handshake::{agent_proof_message, negotiate, AgentProof};
use wicket_proto::{ClientHello, ErrorCode, Frame, SUPPORTED_VERSIONS};

use wicket_dial::Backoff;

use crate::error::AgentError;
use crate::forward::ForwardOptions;
use crate::identity::Identity;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const DIAL_TIMEOUT: Duration = Duration::from_secs(15);

/// Delays after the server refused this agent's identity (revoked, unknown, a key that does
/// not match): nothing the agent does will change that, so it asks again only every few hours
/// instead of every 30 s (an enrolment restored on the server is still picked up).
const REFUSED_FIRST: Duration = Duration::from_secs(30 * 60);
const REFUSED_CAP: Duration = Duration::from_secs(6 * 60 * 60);

/// Keeps the link up until `shutdown` resolves: reconnects on any loss with jittered
/// exponential backoff capped at 30 s, starting over from the shortest delay after a link
/// that worked. When the server refuses this agent's identity (`UNAUTHORIZED`: revoked,
/// unknown, wrong key), it says so once in an error naming the fix and waits hours between
/// attempts instead.
pub async fn run(
    identity: Identity,
    forward: ForwardOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let forward = std::sync::Arc::new(forward);
    let server =
        ServerUrl::parse(&identity.server).map_err(|e| AgentError::Identity(e.to_string()))?;
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut refused_backoff = Backoff::new(REFUSED_FIRST, REFUSED_CAP);
    tokio::pin!(shutdown);
    loop {
        let attempt = async {
            match connect(&identity, &server).await {
                Ok((mux, incoming)) => {
                    tracing::info!(server = %server, target = %identity.target_id, "link up");
                    let why = crate::session::serve(mux, incoming, forward.clone()).await;
                    tracing::warn!(reason = %why, "link lost");
                    match why.code {
                        Some(ErrorCode::Unauthorized) => Attempt::Refused(why.reason),
                        _ => Attempt::WasUp,
                    }
                }
                Err(AgentError::Refused {
                    code: ErrorCode::Unauthorized,
                    reason,
                }) => Attempt::Refused(reason),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot connect");
                    Attempt::Failed
                }
            }
        };
        let attempt = tokio::select! {
            a = attempt => a,
            _ = &mut shutdown => return Ok(()),
        };
        let delay = match attempt {
            Attempt::Refused(reason) => {
                let delay = refused_backoff.next_delay();
                tracing::error!(
                    reason = %reason,
                    retry_in_min = delay.as_secs() / 60,
                    "the server refused this agent's identity: this agent's enrolment was \
                     revoked (or the server does not know it); re-register with \
                     `wicket-agent register --force` and restart the agent"
                );
                delay
            }
            Attempt::WasUp => {
                backoff.reset();
                refused_backoff.reset();
                backoff.next_delay()
            }
            Attempt::Failed => backoff.next_delay(),
        };
        tracing::info!(delay_ms = delay.as_millis() as u64, "reconnecting");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = &mut shutdown => return Ok(()),
        }
    }
}

/// How one turn of [`run`] ended.
enum Attempt {
    /// The link came up (and later went).
    WasUp,
    /// The server refused this agent's identity, for this reason.
    Refused(String),
    /// Anything else: the server unreachable, a handshake cut short.
    Failed,
}

/// One connection attempt: dial, handshake, start the mux.
pub async fn connect(
    identity: &Identity,
    server: &ServerUrl,
) -> Result<
    (
        Mux,
        tokio::sync::mpsc::Receiver<wicket_mux::IncomingChannel>,
    ),
    AgentError,
> {
    let trust = identity.trust()?;
    let mut t = wicket_dial::dial(server, "/v1/agent/link", &trust, None, DIAL_TIMEOUT).await?;
    let hs = |e: TransportError| AgentError::Handshake(e.to_string());
    let hello = match t.recv_frame(HANDSHAKE_TIMEOUT).await.map_err(hs)? {
        Frame::ServerHello(h) => h,
        other => {
            return Err(AgentError::Handshake(format!(
                "expected a server hello, got {:?}",
                other.kind()
            )))
        }
    };
    let Some(version) = negotiate(SUPPORTED_VERSIONS, &hello.versions) else {
        let reason = format!(
            "no common protocol version: agent speaks {:?}, server {:?}",
            SUPPORTED_VERSIONS, hello.versions
        );
        let _ = t
            .send_frame(&Frame::Error {
                channel: 0,
                code: ErrorCode::VersionMismatch,
                reason: reason.clone(),
            })
            .await;
        return Err(AgentError::Handshake(reason));
    };
    let signature = identity.sign(&agent_proof_message(&hello.nonce, &identity.target_id))?;
    t.send_frame(&Frame::ClientHello(ClientHello {
        version,
        client_version: crate::VERSION.into(),
        agent: Some(AgentProof {
            target_id: identity.target_id.clone(),
            signature: hex::encode(signature),
            inventory: crate::inventory::collect(),
        }),
    }))
    .await
    .map_err(hs)?;
    let welcome = match t.recv_frame(HANDSHAKE_TIMEOUT).await.map_err(hs)? {
        Frame::Welcome(w) => w,
        Frame::Error { code, reason, .. } => return Err(AgentError::Refused { code, reason }),
        other => {
            return Err(AgentError::Handshake(format!(
                "expected welcome, got {:?}",
                other.kind()
            )))
        }
    };
    let heartbeat = Duration::from_secs(u64::from(welcome.heartbeat_secs.max(1)));
    let config = MuxConfig {
        ping_interval: Some(heartbeat),
        idle_timeout: Some(heartbeat * 3),
        version,
        ..MuxConfig::default()
    };
    Ok(Mux::start(t, Role::Dialer, config))
}

//! The server's side of a link handshake, shared by the agents' and the users' endpoints:
//! ServerHello with a fresh nonce, the dialer's ClientHello with an agreed version, then either
//! a Welcome and a running mux, or an error frame naming why the link is refused.

use std::time::Duration;

use tokio::sync::mpsc;
use wicket_mux::{IncomingChannel, Mux, MuxConfig, Role, Transport, TransportError};
use wicket_proto::{ClientHello, ErrorCode, Frame, ServerHello, Welcome, SUPPORTED_VERSIONS};

use crate::secrets::new_nonce;
use crate::state::AppState;
use crate::VERSION;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a link is refused during its handshake; the peer is told.
pub struct Refusal(pub ErrorCode, pub String);

impl From<TransportError> for Refusal {
    fn from(e: TransportError) -> Self {
        Refusal(ErrorCode::Protocol, e.to_string())
    }
}

/// Sends ServerHello and returns the nonce it carried and the dialer's ClientHello, whose
/// version is one this server speaks.
pub async fn hello(t: &mut Transport) -> Result<(String, ClientHello), Refusal> {
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
    Ok((nonce, hello))
}

/// Tells the peer why its link is refused; the link then closes.
pub async fn refuse(t: &mut Transport, Refusal(code, reason): Refusal) {
    tracing::warn!(%code, %reason, "link refused");
    let _ = t
        .send_frame(&Frame::Error {
            channel: 0,
            code,
            reason,
        })
        .await;
}

/// Ends the handshake with Welcome and starts the mux; a link silent for three heartbeats is
/// dropped, and the peer may have at most `max_channels` channels open or being opened on it.
/// `None` when the peer is already gone.
pub async fn welcome(
    state: &AppState,
    mut t: Transport,
    version: u16,
    max_channels: usize,
) -> Option<(Mux, mpsc::Receiver<IncomingChannel>)> {
    let heartbeat = state.config().heartbeat;
    let welcome = Frame::Welcome(Welcome {
        version,
        heartbeat_secs: heartbeat.as_secs().max(1) as u32,
    });
    t.send_frame(&welcome).await.ok()?;
    let config = MuxConfig {
        idle_timeout: Some(heartbeat * 3),
        max_channels,
        version,
        ..MuxConfig::default()
    };
    Some(Mux::start(t, Role::Acceptor, config))
}

//! Dialing the WebSocket link and adapting it to a mux transport.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::ServerName;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;
use wicket_mux::{Transport, TransportError};
use wicket_tls::Trust;

use crate::proxy::Proxy;
use crate::server_url::ServerUrl;

#[derive(Debug, Error)]
pub enum DialError {
    #[error("cannot reach {server}: {reason}")]
    Unreachable { server: String, reason: String },
    #[error("TLS with {server} failed: {reason}")]
    Tls { server: String, reason: String },
    #[error("{0}")]
    Refused(String),
    #[error("server says {status}: {message}")]
    Http { status: u16, message: String },
    /// As [`crate::ApiError::UnknownCa`].
    #[error("{}", crate::api::unknown_ca_message(server, ca.as_ref()))]
    UnknownCa {
        server: String,
        ca: Option<wicket_tls::Fingerprint>,
    },
}

/// WebSocket limits at twice the frame limit: a message a little too large still reaches the
/// frame decoder, which tells the peer exactly what was wrong; a grossly oversized one is
/// refused by the transport before it is buffered whole, and the link drops. The read buffer
/// is [`wicket_mux::transport::WS_READ_BUFFER`], not tungstenite's default.
pub fn ws_config() -> WebSocketConfig {
    let mut c = WebSocketConfig::default();
    c.read_buffer_size = wicket_mux::transport::WS_READ_BUFFER;
    c.max_message_size = Some(2 * wicket_proto::MAX_FRAME_LEN);
    c.max_frame_size = Some(2 * wicket_proto::MAX_FRAME_LEN);
    c
}

/// Opens `wss://server/path`, through a proxy when the environment names one, with the given
/// trust and bearer token, and returns a transport for the handshake and the mux.
pub async fn dial(
    server: &ServerUrl,
    path: &str,
    trust: &Trust,
    bearer: Option<&str>,
    timeout: Duration,
) -> Result<Transport, DialError> {
    tokio::time::timeout(timeout, dial_inner(server, path, trust, bearer))
        .await
        .map_err(|_| DialError::Unreachable {
            server: server.to_string(),
            reason: format!("timed out after {}s", timeout.as_secs()),
        })?
}

async fn dial_inner(
    server: &ServerUrl,
    path: &str,
    trust: &Trust,
    bearer: Option<&str>,
) -> Result<Transport, DialError> {
    let unreachable = |reason: String| DialError::Unreachable {
        server: server.to_string(),
        reason,
    };
    let tls_err = |reason: String| DialError::Tls {
        server: server.to_string(),
        reason,
    };
    let config = wicket_tls::client_config(trust).map_err(|e| tls_err(e.to_string()))?;
    let tcp = match Proxy::from_env(&server.host()) {
        Some(proxy) => proxy
            .connect(&server.authority())
            .await
            .map_err(|e| unreachable(format!("via proxy {}: {e}", proxy.authority)))?,
        None => TcpStream::connect(server.authority())
            .await
            .map_err(|e| unreachable(e.to_string()))?,
    };
    // Keystrokes must not wait for Nagle.
    tcp.set_nodelay(true)
        .map_err(|e| unreachable(e.to_string()))?;
    let name = ServerName::try_from(server.host()).map_err(|e| tls_err(e.to_string()))?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| match wicket_tls::UnknownCa::find(&e) {
            Some(unknown) => DialError::UnknownCa {
                server: server.to_string(),
                ca: unknown.top(),
            },
            None => tls_err(e.to_string()),
        })?;
    let mut request = server
        .wss(path)
        .into_client_request()
        .map_err(|e| unreachable(e.to_string()))?;
    if let Some(token) = bearer {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| DialError::Refused("the stored token is not a valid header".into()))?;
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, value);
    }
    let (ws, _resp) = tokio_tungstenite::client_async_with_config(request, tls, Some(ws_config()))
        .await
        .map_err(|e| match e {
            tungstenite::Error::Http(resp) => {
                let status = resp.status().as_u16();
                let body = resp
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).to_string())
                    .unwrap_or_default();
                DialError::Http {
                    status,
                    message: error_message(&body),
                }
            }
            other => unreachable(other.to_string()),
        })?;
    Ok(transport(ws))
}

/// The `error` field of a JSON error body ([`wicket_api::ErrorBody`]), or the body itself.
pub fn error_message(body: &str) -> String {
    serde_json::from_str::<wicket_api::ErrorBody>(body)
        .map(|e| e.error)
        .unwrap_or_else(|_| body.trim().to_string())
}

/// Adapts a tungstenite WebSocket: binary messages are frames; pings are answered by
/// tungstenite; a close ends the stream; text is a protocol error.
pub fn transport<S>(ws: WebSocketStream<S>) -> Transport
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, stream) = ws.split();
    let sink = sink
        .sink_map_err(|e| TransportError::Io(ws_error(e)))
        .with(|b: Bytes| futures_util::future::ready(Ok::<_, TransportError>(Message::Binary(b))));
    let stream = futures_util::stream::unfold(stream, |mut s| async move {
        loop {
            match s.next().await {
                None | Some(Ok(Message::Close(_))) => return None,
                Some(Ok(Message::Binary(b))) => return Some((Ok(b), s)),
                Some(Ok(Message::Text(_))) => {
                    let e = TransportError::Io("text message on a binary link".into());
                    return Some((Err(e), s));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Some((Err(TransportError::Io(ws_error(e))), s)),
            }
        }
    });
    Transport::new(Box::pin(sink), Box::pin(stream))
}

fn ws_error(e: tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Capacity(c) => format!("message exceeds the frame limit: {c}"),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            "connection closed".into()
        }
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => "the connection to wicketd was lost (reset without a close)".into(),
        tungstenite::Error::Io(io) => wicket_mux::transport::describe_io(&io, Some("wicketd")),
        other => TransportError::from_error(&other, Some("wicketd")).to_string(),
    }
}

/// How long to wait for a link's handshake frames.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

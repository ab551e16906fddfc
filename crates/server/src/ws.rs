//! axum WebSockets as mux transports.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use wicket_mux::{Transport, TransportError};

/// Applies the frame limits to an upgrade, so the transport refuses an oversized message
/// before buffering it whole; messages up to twice the frame limit reach the decoder, which
/// names the problem to the peer.
///
/// The read buffer is [`wicket_mux::transport::WS_READ_BUFFER`], not tungstenite's default.
pub fn limit(upgrade: WebSocketUpgrade) -> WebSocketUpgrade {
    upgrade
        .max_message_size(2 * wicket_proto::MAX_FRAME_LEN)
        .max_frame_size(2 * wicket_proto::MAX_FRAME_LEN)
        .read_buffer_size(wicket_mux::transport::WS_READ_BUFFER)
}

pub fn transport(ws: WebSocket) -> Transport {
    let (sink, stream) = ws.split();
    let sink = sink
        .sink_map_err(|e| TransportError::from_error(&e, None))
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
                Some(Err(e)) => return Some((Err(TransportError::from_error(&e, None)), s)),
            }
        }
    });
    Transport::new(Box::pin(sink), Box::pin(stream))
}

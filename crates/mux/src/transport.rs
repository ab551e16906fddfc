//! What the mux runs on: a stream and a sink of whole binary messages, one frame each.
//!
//! Keeping this a pair of trait objects lets the server hand in an axum WebSocket, the agent and
//! the CLI a tokio-tungstenite one, and tests an in-memory pair, with one mux for all.

use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use thiserror::Error;
use wicket_proto::{DecodeError, Frame};

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TransportError {
    #[error("{0}")]
    Io(String),
    #[error("the peer closed the link")]
    Closed,
    #[error("timed out waiting for the peer")]
    Timeout,
    #[error("bad frame from peer: {0}")]
    Decode(#[from] DecodeError),
    #[error("unexpected frame during handshake: {0}")]
    Unexpected(String),
    #[error("{code}: {reason}")]
    Refused {
        code: wicket_proto::ErrorCode,
        reason: String,
    },
}

impl TransportError {
    /// A transport failure as a person should read it: what happened to the connection, not
    /// the library's words for it (rustls's "peer closed connection without sending TLS
    /// close_notify", with a link to its manual). Looks for the I/O error under `e` and names
    /// its kind; other errors keep their own text.
    /// `peer` names the other end for the message ("wicketd"), if the caller knows it.
    pub fn from_error(e: &(dyn std::error::Error + 'static), peer: Option<&str>) -> TransportError {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cause {
            if let Some(io) = c.downcast_ref::<std::io::Error>() {
                return TransportError::Io(describe_io(io, peer));
            }
            cause = c.source();
        }
        TransportError::Io(e.to_string())
    }
}

/// What an I/O error on a link means for the person using it; `peer` names the other end.
pub fn describe_io(e: &std::io::Error, peer: Option<&str>) -> String {
    use std::io::ErrorKind as K;
    let conn = match peer {
        Some(p) => format!("the connection to {p}"),
        None => "the connection".to_string(),
    };
    match e.kind() {
        K::UnexpectedEof => format!(
            "{conn} was lost (closed without a goodbye: the other end stopped or restarted, \
             or the network dropped it)"
        ),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
            format!("{conn} was lost (reset by the other end or the network)")
        }
        K::TimedOut => format!("{conn} timed out"),
        // An OS error reads well ("Network is unreachable (os error 101)"); anything else may
        // be a library's message, so only its kind is given.
        _ if e.raw_os_error().is_some() => format!("{conn} failed: {e}"),
        kind => format!("{conn} failed ({kind})"),
    }
}

/// Most a WebSocket transport reads at once, and its read buffer's first size. tungstenite
/// zeroes that much of its buffer before every read, including the read that only learns the
/// socket is empty: two per message per hop. With its 128 KiB default that was the largest
/// user-space cost of an echo (docs/PERFORMANCE.md, "Tried and kept"). Bulk data loses
/// nothing at 4 KiB: the TLS layer below hands over at most one record (16 KiB) per read
/// anyway, and the reads it splits into are copies from memory, not system calls (1 GiB
/// through a forward: the same 510-535 MB/s at 4, 16 and 32 KiB).
pub const WS_READ_BUFFER: usize = 4 * 1024;

pub type FrameSink = Pin<Box<dyn Sink<Bytes, Error = TransportError> + Send>>;
pub type FrameStream = Pin<Box<dyn Stream<Item = Result<Bytes, TransportError>> + Send>>;

/// A link's two directions.
pub struct Transport {
    pub sink: FrameSink,
    pub stream: FrameStream,
}

impl Transport {
    pub fn new(sink: FrameSink, stream: FrameStream) -> Self {
        Transport { sink, stream }
    }

    /// Sends one frame and flushes; for the handshake, before a [`crate::Mux`] takes over.
    pub async fn send_frame(&mut self, frame: &Frame) -> Result<(), TransportError> {
        let mut buf = BytesMut::new();
        frame.encode(&mut buf);
        self.sink.send(buf.freeze()).await
    }

    /// Receives one frame within `timeout`. An error frame from the peer becomes
    /// [`TransportError::Refused`] so the handshake reports the peer's reason.
    pub async fn recv_frame(&mut self, timeout: Duration) -> Result<Frame, TransportError> {
        let next = tokio::time::timeout(timeout, self.stream.next())
            .await
            .map_err(|_| TransportError::Timeout)?;
        let bytes = next.ok_or(TransportError::Closed)??;
        match Frame::decode(bytes)? {
            Frame::Error { code, reason, .. } => Err(TransportError::Refused { code, reason }),
            f => Ok(f),
        }
    }
}

/// Two transports joined back to back in memory: for tests, and for the web console's
/// terminal, whose user link never leaves wicketd. The queues are unbounded; what a mux puts
/// in them is bounded by its channels' credit windows and its control frames.
pub fn mem_pair() -> (Transport, Transport) {
    let (a_tx, a_rx) = futures_channel::mpsc::unbounded::<Bytes>();
    let (b_tx, b_rx) = futures_channel::mpsc::unbounded::<Bytes>();
    let wrap = |tx: futures_channel::mpsc::UnboundedSender<Bytes>,
                rx: futures_channel::mpsc::UnboundedReceiver<Bytes>| {
        Transport::new(
            Box::pin(tx.sink_map_err(|_| TransportError::Closed)),
            Box::pin(rx.map(Ok)),
        )
    };
    (wrap(a_tx, b_rx), wrap(b_tx, a_rx))
}

#[cfg(test)]
mod describe_tests {
    use super::*;

    #[test]
    fn io_errors_read_as_what_happened() {
        // rustls's own text for this case links to its manual.
        let eof = std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "peer closed connection without sending TLS close_notify: https://docs.rs/rustls/",
        );
        let msg = TransportError::from_error(&eof, Some("wicketd")).to_string();
        assert!(
            msg.starts_with("the connection to wicketd was lost"),
            "{msg}"
        );
        assert!(
            !msg.contains("docs.rs") && !msg.contains("close_notify"),
            "{msg}"
        );
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(describe_io(&reset, None).starts_with("the connection was lost"));
    }
}

//! Splicing a byte stream (a TCP connection, stdin and stdout) to a channel, with half-close.
//!
//! Both ends of a forward use [`splice`]: the CLI with the local client's socket (or its stdin
//! and stdout for `wicket proxy`), the agent with the destination's socket. Each direction runs
//! on its own, so a direction waiting for credit never stops the other; end of input becomes
//! `EOF` (and `EOF` a write shutdown) while the other direction carries on. A failure on either
//! side (a reset, an `ERROR` from the peer, the peer closing without `EOF`) aborts both
//! directions at once and, through `reset`, lets the caller reset its socket so that its client
//! sees a prompt RST rather than a clean close.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wicket_proto::{ErrorCode, MAX_DATA_LEN};

use crate::channel::{Channel, ChannelReceiver, ChannelSender, Event};

/// How a splice ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spliced {
    /// Bytes read from the local stream and sent on the channel.
    pub sent: u64,
    /// Bytes received on the channel and written to the local stream.
    pub received: u64,
    /// Why it was aborted; `None` when both directions ended cleanly.
    pub error: Option<String>,
}

/// Pumps `reader` to `channel` and `channel` to `writer` until both directions have ended (or
/// one fails), then closes the channel. When the channel failed, `reset` gets the writer after
/// the reader is dropped: a TCP caller sets `SO_LINGER` 0 and drops the socket without a FIN
/// (`OwnedWriteHalf::forget`), so its client sees a reset.
pub async fn splice<R, W>(channel: Channel, reader: R, writer: W, reset: impl FnOnce(W)) -> Spliced
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (tx, rx) = channel.split();
    let mut sent = 0u64;
    let mut received = 0u64;
    let mut writer_back = None;
    let error = {
        let up = upstream(reader, &tx, &mut sent);
        let down = downstream(rx, writer, &mut received);
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            tokio::select! {
                r = &mut up, if !up_done => {
                    up_done = true;
                    if let Err(e) = r {
                        let _ = tx.error(ErrorCode::ConnectFailed, &e);
                        break Some(e);
                    }
                }
                r = &mut down, if !down_done => {
                    down_done = true;
                    if let Err((e, w)) = r {
                        writer_back = w;
                        break Some(e);
                    }
                }
            }
            if up_done && down_done {
                break None;
            }
        }
    };
    if let Some(w) = writer_back {
        reset(w);
    }
    tx.close();
    Spliced {
        sent,
        received,
        error,
    }
}

/// Local reads to the channel; `EOF` at end of input. `Err` on a read failure.
async fn upstream<R: AsyncRead + Unpin>(
    mut reader: R,
    tx: &ChannelSender,
    count: &mut u64,
) -> Result<(), String> {
    let mut buf = BytesMut::with_capacity(MAX_DATA_LEN);
    loop {
        // Once the previous chunk has been encoded and dropped, `reserve` reuses its memory.
        buf.reserve(MAX_DATA_LEN);
        match reader.read_buf(&mut buf).await {
            Ok(0) => {
                let _ = tx.eof();
                return Ok(());
            }
            Ok(n) => {
                *count += n as u64;
                if tx.data(buf.split().freeze()).await.is_err() {
                    return Err("the channel closed".into());
                }
            }
            Err(e) => return Err(format!("local connection failed: {e}")),
        }
    }
}

/// Channel data to local writes; a write shutdown at `EOF`. On failure, gives the writer back so
/// the caller can reset it.
async fn downstream<W: AsyncWrite + Unpin>(
    mut rx: ChannelReceiver,
    mut writer: W,
    count: &mut u64,
) -> Result<(), (String, Option<W>)> {
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Data(d) => {
                *count += d.len() as u64;
                let wrote = async {
                    writer.write_all(&d).await?;
                    writer.flush().await
                };
                // A local end that does not read must not hold a channel that was cut.
                let failed = tokio::select! {
                    biased;
                    r = wrote => r.err().map(|e| format!("local write failed: {e}")),
                    cut = rx.cut() => Some(cut.reason),
                };
                if let Some(e) = failed {
                    return Err((e, Some(writer)));
                }
            }
            Event::Eof => {
                let _ = writer.shutdown().await;
                return Ok(());
            }
            Event::Error { code, reason } => {
                let why = if reason.is_empty() {
                    code.to_string()
                } else {
                    reason
                };
                return Err((why, Some(writer)));
            }
            _ => {}
        }
    }
    Err((
        "the channel closed before the end of the stream".into(),
        Some(writer),
    ))
}

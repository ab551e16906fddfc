//! One channel: its credit, its events, and the handles a user holds.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};
use wicket_proto::{
    ErrorCode, ExitStatus, FlowError, Frame, OpenSpec, RecvWindow, SendCredit, Signal, MAX_DATA_LEN,
};

use crate::error::{LinkClosed, MuxError};
use crate::link::{Entry, Held, Mux, StreamLease};

/// Something that arrived on a channel.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Data(Bytes),
    /// Stderr of a process run without a PTY.
    ExtData(Bytes),
    /// Output as `Data`, compressed (`wicket_proto::zdata`): only on a session channel whose
    /// opener asked for it. Left compressed here: a relay passes it on as it came.
    ZData(Bytes),
    /// The peer sends no more data.
    Eof,
    Resize {
        cols: u16,
        rows: u16,
    },
    Signal(Signal),
    Exit(ExitStatus),
    /// The channel failed; on a lost link the code says why.
    Error {
        code: ErrorCode,
        reason: String,
    },
    /// The agent wrote `len` more bytes of input to the terminal; `echo` is false if the
    /// terminal was reading a password (`INPUT_ECHO`, version 5; only on a session that asked
    /// for it).
    InputEcho {
        len: u32,
        echo: bool,
    },
}

/// Why a channel was cut: its link was lost, the peer reported that it failed (`ERROR`), or the
/// peer closed it before saying it had finished sending (`EOF` or `EXIT`). What is still queued
/// on a cut channel will never be followed by anything; a task passing it on somewhere that
/// does not take it (a destination that never reads, a full window on another link) must stop
/// waiting, or it holds the channel, its buffers and its far end for ever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    pub code: ErrorCode,
    pub reason: String,
}

/// State both the link tasks and the channel's handles touch.
pub(crate) struct ChannelShared {
    id: u32,
    credit: Mutex<SendCredit>,
    /// The window the peer announced: a `ZDATA` payload must fit in half of it.
    peer_window: AtomicU32,
    credit_changed: Notify,
    /// Set when the peer closed the channel or the link died: senders stop waiting.
    shut: AtomicBool,
    window: Mutex<RecvWindow>,
    local_closed: AtomicBool,
    /// The peer sent `EOF` or `EXIT`: a `CLOSE` after it is an orderly end, not a cut.
    peer_finished: AtomicBool,
    /// Set once, when the channel is cut; [`ChannelShared::cut_changed`] wakes the waiters.
    cut: OnceLock<Cut>,
    cut_changed: Notify,
}

impl ChannelShared {
    pub(crate) fn new(id: u32, window: RecvWindow, peer_window: u32) -> Arc<Self> {
        Arc::new(ChannelShared {
            id,
            credit: Mutex::new(SendCredit::new(peer_window)),
            peer_window: AtomicU32::new(peer_window),
            credit_changed: Notify::new(),
            shut: AtomicBool::new(false),
            window: Mutex::new(window),
            local_closed: AtomicBool::new(false),
            peer_finished: AtomicBool::new(false),
            cut: OnceLock::new(),
            cut_changed: Notify::new(),
        })
    }

    /// Marks the channel cut (the first reason wins) and wakes whoever waits on it.
    pub(crate) fn cut(&self, code: ErrorCode, reason: String) {
        if self.cut.set(Cut { code, reason }).is_ok() {
            self.cut_changed.notify_waiters();
        }
    }

    /// The peer has said it sends no more (`EOF`, `EXIT`).
    pub(crate) fn peer_finished(&self) {
        self.peer_finished.store(true, Ordering::SeqCst);
    }

    /// The peer closed the channel: a cut unless it had finished sending first.
    pub(crate) fn peer_closed(&self) {
        if !self.peer_finished.load(Ordering::SeqCst) {
            self.cut(
                ErrorCode::PeerGone,
                "the peer closed the channel before the end of its stream".into(),
            );
        }
        self.shut();
    }

    /// Resolves once the channel is cut.
    async fn wait_cut(&self) -> Cut {
        loop {
            let changed = self.cut_changed.notified();
            if let Some(c) = self.cut.get() {
                return c.clone();
            }
            changed.await;
        }
    }

    pub(crate) fn grant_initial(&self, peer_window: u32) {
        if let Ok(mut c) = self.credit.lock() {
            *c = SendCredit::new(peer_window);
        }
        self.peer_window.store(peer_window, Ordering::SeqCst);
        self.credit_changed.notify_waiters();
    }

    pub(crate) fn grant(&self, increment: u32) -> Result<(), FlowError> {
        match self.credit.lock() {
            Ok(mut c) => c.grant(increment)?,
            Err(_) => return Ok(()),
        }
        self.credit_changed.notify_waiters();
        Ok(())
    }

    pub(crate) fn on_data(&self, n: usize) -> Result<(), FlowError> {
        match self.window.lock() {
            Ok(mut w) => w.on_data(n),
            Err(_) => Ok(()),
        }
    }

    pub(crate) fn shut(&self) {
        self.shut.store(true, Ordering::SeqCst);
        self.credit_changed.notify_waiters();
    }

    /// Returns true the first time, when a CLOSE frame must be sent.
    pub(crate) fn mark_local_closed(&self) -> bool {
        !self.local_closed.swap(true, Ordering::SeqCst)
    }

    pub(crate) fn is_local_closed(&self) -> bool {
        self.local_closed.load(Ordering::SeqCst)
    }

    /// Waits for credit and takes up to `want` bytes of it.
    async fn take_credit(&self, want: usize) -> Result<usize, MuxError> {
        loop {
            let changed = self.credit_changed.notified();
            if self.shut.load(Ordering::SeqCst) || self.is_local_closed() {
                return Err(MuxError::ChannelClosed);
            }
            let got = match self.credit.lock() {
                Ok(mut c) => c.take(want),
                Err(_) => return Err(MuxError::ChannelClosed),
            };
            if got > 0 {
                return Ok(got);
            }
            changed.await;
        }
    }
}

/// Sends a CLOSE when the last handle of a channel goes away.
struct CloseOnDrop {
    shared: Arc<ChannelShared>,
    mux: Mux,
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.mux.inner.local_close(self.shared.id);
    }
}

/// An open channel; split it to read and write from different tasks.
pub struct Channel {
    sender: ChannelSender,
    receiver: ChannelReceiver,
}

impl Channel {
    pub(crate) fn new(
        shared: Arc<ChannelShared>,
        events: mpsc::UnboundedReceiver<Event>,
        mux: Mux,
    ) -> Self {
        let guard = Arc::new(CloseOnDrop {
            shared: shared.clone(),
            mux: mux.clone(),
        });
        Channel {
            sender: ChannelSender {
                shared: shared.clone(),
                mux: mux.clone(),
                _guard: guard.clone(),
            },
            receiver: ChannelReceiver {
                shared,
                events,
                mux,
                _guard: guard,
            },
        }
    }

    pub fn id(&self) -> u32 {
        self.sender.shared.id
    }

    pub fn split(self) -> (ChannelSender, ChannelReceiver) {
        (self.sender, self.receiver)
    }
}

/// The sending half. Cloneable, so stdout and stderr pumps can share it.
#[derive(Clone)]
pub struct ChannelSender {
    shared: Arc<ChannelShared>,
    mux: Mux,
    _guard: Arc<CloseOnDrop>,
}

impl ChannelSender {
    pub fn id(&self) -> u32 {
        self.shared.id
    }

    /// Sends stdout/stdin bytes, waiting for credit; large buffers go out in large frames.
    pub async fn data(&self, data: Bytes) -> Result<(), MuxError> {
        self.send_chunked(data, false).await
    }

    /// Sends stderr bytes.
    pub async fn ext_data(&self, data: Bytes) -> Result<(), MuxError> {
        self.send_chunked(data, true).await
    }

    /// Whether a `ZDATA` payload of `len` bytes may be sent: at most half the peer's window.
    /// It waits for credit for its whole length, and the peer returns credit only in halves of
    /// its window, so a larger one could wait forever; send its output as `DATA` instead.
    pub fn fits_zdata(&self, len: usize) -> bool {
        len as u64 * 2 <= u64::from(self.shared.peer_window.load(Ordering::SeqCst))
    }

    /// Sends output compressed (a `wicket_proto::zdata` payload), in one frame, once there is
    /// credit for all of it. A payload that does not [fit](Self::fits_zdata) is refused:
    /// callers check first and send such output as `DATA`.
    pub async fn zdata(&self, payload: Bytes) -> Result<(), MuxError> {
        if !self.fits_zdata(payload.len()) {
            return Err(MuxError::ZDataTooLarge { len: payload.len() });
        }
        let mut held = 0;
        while held < payload.len() {
            held += self.shared.take_credit(payload.len() - held).await?;
        }
        self.send(Frame::ZData {
            channel: self.shared.id,
            data: payload,
        })
    }

    async fn send_chunked(&self, mut data: Bytes, ext: bool) -> Result<(), MuxError> {
        while !data.is_empty() {
            let n = self
                .shared
                .take_credit(data.len().min(MAX_DATA_LEN))
                .await?;
            let chunk = data.split_to(n);
            let channel = self.shared.id;
            self.send(if ext {
                Frame::ExtData {
                    channel,
                    data: chunk,
                }
            } else {
                Frame::Data {
                    channel,
                    data: chunk,
                }
            })?;
        }
        Ok(())
    }

    pub fn eof(&self) -> Result<(), MuxError> {
        self.send(Frame::Eof {
            channel: self.shared.id,
        })
    }

    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), MuxError> {
        self.send(Frame::Resize {
            channel: self.shared.id,
            cols,
            rows,
        })
    }

    pub fn signal(&self, signal: Signal) -> Result<(), MuxError> {
        self.send(Frame::Signal {
            channel: self.shared.id,
            signal,
        })
    }

    pub fn exit(&self, status: ExitStatus) -> Result<(), MuxError> {
        self.send(Frame::Exit {
            channel: self.shared.id,
            status,
        })
    }

    /// Reports that `len` more bytes of the peer's input went to the terminal, and whether it
    /// showed them (`echo`) or was reading a password (`INPUT_ECHO`): send only on a session
    /// whose opener asked for it. Takes no credit.
    pub fn input_echo(&self, len: u32, echo: bool) -> Result<(), MuxError> {
        self.send(Frame::InputEcho {
            channel: self.shared.id,
            len,
            echo,
        })
    }

    /// Tells the peer this channel failed and why; the caller should then close it.
    pub fn error(&self, code: ErrorCode, reason: &str) -> Result<(), MuxError> {
        self.send(Frame::Error {
            channel: self.shared.id,
            code,
            reason: reason.to_string(),
        })
    }

    /// Why the channel's link closed, once it has: an `ERROR` on a channel whose link is gone
    /// is the link's loss, not the channel's own failure.
    pub fn link_closed(&self) -> Option<LinkClosed> {
        self.mux.inner.closed_reason()
    }

    /// Closes the channel now, whatever handles remain.
    pub fn close(&self) {
        self.mux.inner.local_close(self.shared.id);
    }

    fn send(&self, frame: Frame) -> Result<(), MuxError> {
        if self.shared.is_local_closed() {
            return Err(MuxError::ChannelClosed);
        }
        self.mux.inner.send(frame)
    }
}

/// The receiving half.
pub struct ChannelReceiver {
    shared: Arc<ChannelShared>,
    events: mpsc::UnboundedReceiver<Event>,
    mux: Mux,
    _guard: Arc<CloseOnDrop>,
}

impl ChannelReceiver {
    pub fn id(&self) -> u32 {
        self.shared.id
    }

    /// The next event; `None` once the peer closed the channel or the link is gone (an
    /// [`Event::Error`] says which, before the end). Taking data out returns its credit.
    pub async fn recv(&mut self) -> Option<Event> {
        let ev = self.events.recv().await?;
        if let Event::Data(d) | Event::ExtData(d) | Event::ZData(d) = &ev {
            let inc = self
                .shared
                .window
                .lock()
                .ok()
                .and_then(|mut w| w.on_consumed(d.len()));
            if let Some(increment) = inc {
                if !self.shared.is_local_closed() {
                    let _ = self.mux.inner.send(Frame::Window {
                        channel: self.shared.id,
                        increment,
                    });
                }
            }
        }
        Some(ev)
    }

    /// Why the channel's link closed, once it has (see [`ChannelSender::link_closed`]).
    pub fn link_closed(&self) -> Option<LinkClosed> {
        self.mux.inner.closed_reason()
    }

    /// Resolves once the channel is cut (see [`Cut`]), whatever is still queued.
    pub async fn cut(&self) -> Cut {
        self.shared.wait_cut().await
    }

    /// Runs `work` (passing on what this channel delivered: a write to a socket, a send on
    /// another channel) unless the channel is cut first. What came from a cut channel is not
    /// worth waiting for a slow or stalled destination: giving up frees the buffers and lets
    /// the caller close both ends, where waiting would hold them as long as the destination
    /// stalls.
    pub async fn unless_cut<T, E: From<Cut>>(
        &self,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        tokio::select! {
            biased;
            r = work => r,
            c = self.shared.wait_cut() => Err(c.into()),
        }
    }
}

/// A channel the peer asked to open; accept or reject it. Dropping it rejects it.
pub struct IncomingChannel {
    parts: Option<IncomingParts>,
    spec: OpenSpec,
    window: u32,
}

struct IncomingParts {
    mux: Mux,
    shared: Arc<ChannelShared>,
    events_tx: mpsc::UnboundedSender<Event>,
    events_rx: mpsc::UnboundedReceiver<Event>,
    lease: Option<StreamLease>,
}

impl IncomingChannel {
    pub(crate) fn new(
        mux: Mux,
        shared: Arc<ChannelShared>,
        (events_tx, events_rx): (mpsc::UnboundedSender<Event>, mpsc::UnboundedReceiver<Event>),
        lease: Option<StreamLease>,
        spec: OpenSpec,
        window: u32,
    ) -> Self {
        IncomingChannel {
            window,
            parts: Some(IncomingParts {
                mux,
                shared,
                events_tx,
                events_rx,
                lease,
            }),
            spec,
        }
    }

    pub fn spec(&self) -> &OpenSpec {
        &self.spec
    }

    pub fn id(&self) -> u32 {
        self.parts.as_ref().map(|p| p.shared.id).unwrap_or(0)
    }

    pub fn accept(mut self) -> Result<Channel, MuxError> {
        let p = self.parts.take().ok_or(MuxError::ChannelClosed)?;
        let id = p.shared.id;
        p.mux.inner.insert(
            id,
            Entry {
                events: p.events_tx,
                shared: p.shared.clone(),
                remote_closed: false,
                _held: Held {
                    _lease: p.lease,
                    _token: None,
                },
            },
        );
        p.mux.inner.send(Frame::Accept {
            channel: id,
            window: self.window,
        })?;
        Ok(Channel::new(p.shared, p.events_rx, p.mux))
    }

    pub fn reject(mut self, code: ErrorCode, reason: &str) {
        if let Some(p) = self.parts.take() {
            p.mux.inner.unoffer();
            let _ = p.mux.inner.send(Frame::Reject {
                channel: p.shared.id,
                code,
                reason: reason.to_string(),
            });
        }
    }
}

impl Drop for IncomingChannel {
    fn drop(&mut self) {
        if let Some(p) = self.parts.take() {
            p.mux.inner.unoffer();
            let _ = p.mux.inner.send(Frame::Reject {
                channel: p.shared.id,
                code: ErrorCode::Internal,
                reason: "the channel was dropped unanswered".into(),
            });
        }
    }
}

#[cfg(test)]
mod tests;

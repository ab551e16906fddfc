//! The [`Mux`]: one link, its channel table and the tasks that drive it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::time::Instant;
use wicket_proto::login::MAX_NOTICE_LEN;
use wicket_proto::{
    ErrorCode, Frame, Notice, OpenSpec, RecvWindow, Renew, DEFAULT_WINDOW, LOGIN_FRAMES_VERSION,
    MAX_PENDING_OPENS, STREAM_WINDOW, STREAM_WINDOW_CHANNELS, SUPPORTED_VERSIONS,
};

use crate::channel::{Channel, ChannelShared, Event, IncomingChannel};
use crate::error::{LinkCause, LinkClosed, MuxError};
use crate::transport::{FrameSink, FrameStream, Transport, TransportError};

/// Which end of the link we are. The dialer numbers its channels odd, the acceptor even, so
/// both may open channels without colliding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Dialer,
    Acceptor,
}

#[derive(Clone, Debug)]
pub struct MuxConfig {
    /// Receive window granted to each session channel.
    pub window: u32,
    /// Receive window granted to a byte-stream channel (TCP forwards, copies) while fewer than
    /// `stream_windows` others hold it: bulk transfers want more bytes in flight than
    /// interactive sessions.
    pub stream_window: u32,
    /// Byte-stream channels that hold `stream_window` at once on this link; further ones get
    /// `window` until one of those closes. What a peer can make us buffer is one window per
    /// channel and direction, so this keeps hundreds of forwarded connections into
    /// destinations that never read to a few stream windows and many small ones, while the
    /// few bulk transfers a link usually carries keep the large window.
    pub stream_windows: usize,
    /// Channels open on this link at once, in both directions, counting the peer's opens not
    /// yet answered; a peer's open beyond it is rejected.
    pub max_channels: usize,
    /// Send a ping this often (the dialer's side of the heartbeat).
    pub ping_interval: Option<Duration>,
    /// Close the link when nothing arrived for this long.
    pub idle_timeout: Option<Duration>,
    /// The protocol version agreed in the handshake: the link frames of later versions
    /// (`NOTICE`, `RENEW`) are neither sent nor accepted on an older link.
    pub version: u16,
}

/// How often a link is pinged while someone [watches it closely](Mux::watch_closely): an
/// interactive session, whose user is waiting on every keystroke.
pub const CLOSE_WATCH_PING: Duration = Duration::from_secs(3);

/// How long a closely watched link may stay silent (three pings unanswered, and a little
/// more) before it is closed as dead, instead of the three heartbeats (a minute by default)
/// of an unwatched one.
pub const CLOSE_WATCH_SILENCE: Duration = Duration::from_secs(10);

/// A link-level message for the application rather than the mux (version 5): the user's
/// login, see `wicket_proto::login`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// From the server, to a user's client.
    Notice(Notice),
    /// From a user's client, to the server.
    Renew(Renew),
}

/// Control messages a peer may queue for an application that is slow to take them; beyond
/// that they are dropped (they are notices, not data).
const CONTROL_QUEUE: usize = 16;

impl Default for MuxConfig {
    fn default() -> Self {
        MuxConfig {
            window: DEFAULT_WINDOW,
            stream_window: STREAM_WINDOW,
            stream_windows: STREAM_WINDOW_CHANNELS,
            max_channels: 1024,
            ping_interval: None,
            idle_timeout: None,
            version: SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.len() - 1],
        }
    }
}

/// The close watches of a link ([`Mux::watch_closely`]): how many, and since when.
#[derive(Default)]
struct CloseWatch {
    count: usize,
    /// When the first of the current watches began: silence is counted from no earlier.
    since: Option<Instant>,
}

/// Held while a link is [watched closely](Mux::watch_closely); dropping the last one returns
/// the link to its configured heartbeat.
pub struct Watching {
    mux: Mux,
}

impl Drop for Watching {
    fn drop(&mut self) {
        let mut w = self.mux.inner.watch_lock();
        w.count = w.count.saturating_sub(1);
        if w.count == 0 {
            w.since = None;
        }
        drop(w);
        self.mux.inner.watch_changed.notify_one();
    }
}

/// One of a link's [`MuxConfig::stream_windows`] large windows, held by a channel while it is
/// in the table; dropping it gives the window to the next stream channel.
pub(crate) struct StreamLease(Arc<AtomicUsize>);

impl Drop for StreamLease {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a channel keeps while it occupies the table, released whichever way it leaves (both
/// sides closed it, the peer refused it, the link was lost).
pub(crate) struct Held {
    pub(crate) _lease: Option<StreamLease>,
    /// The opener's token, from [`Mux::open_holding`].
    pub(crate) _token: Option<Box<dyn Send>>,
}

/// What the writer task is asked to do.
pub(crate) enum Out {
    Frame(Frame),
    /// Send this error frame (if any), then close the sink, then say so (if asked).
    Close(Option<Frame>, Option<oneshot::Sender<()>>),
}

/// One channel in the table.
pub(crate) struct Entry {
    pub(crate) events: mpsc::UnboundedSender<Event>,
    pub(crate) shared: Arc<ChannelShared>,
    pub(crate) remote_closed: bool,
    pub(crate) _held: Held,
}

#[derive(Default)]
pub(crate) struct Table {
    pub(crate) channels: HashMap<u32, Entry>,
    pending: HashMap<u32, (oneshot::Sender<Result<u32, MuxError>>, Entry)>,
    /// The peer's opens handed to the application and not yet accepted or rejected: they
    /// count against `max_channels` like open ones, or a peer could queue any number.
    pub(crate) offered: usize,
}

pub(crate) struct Inner {
    pub(crate) out: mpsc::UnboundedSender<Out>,
    table: Mutex<Table>,
    closed: watch::Sender<Option<LinkClosed>>,
    next_id: AtomicU32,
    pub(crate) config: MuxConfig,
    role: Role,
    /// One permit per `OPEN` we may have unanswered: the peer queues no more than that.
    open_slots: tokio::sync::Semaphore,
    /// Stream channels holding the large window now (see [`MuxConfig::stream_windows`]).
    stream_leases: Arc<AtomicUsize>,
    close_watch: Mutex<CloseWatch>,
    /// Wakes the heartbeat when a close watch begins or ends.
    watch_changed: Notify,
    controls_tx: mpsc::Sender<Control>,
    /// Taken once by the application ([`Mux::controls`]).
    controls_rx: Mutex<Option<mpsc::Receiver<Control>>>,
}

/// A multiplexed link. Cheap to clone; the link lives until [`Mux::close`] or the peer goes.
#[derive(Clone)]
pub struct Mux {
    pub(crate) inner: Arc<Inner>,
}

impl Mux {
    /// Starts the reader, writer and heartbeat tasks on `transport` (whose handshake is done).
    /// Channels the peer opens arrive on the returned receiver.
    pub fn start(
        transport: Transport,
        role: Role,
        config: MuxConfig,
    ) -> (Mux, mpsc::Receiver<IncomingChannel>) {
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let (incoming_tx, incoming_rx) = mpsc::channel(MAX_PENDING_OPENS);
        let (closed, _) = watch::channel(None);
        let (controls_tx, controls_rx) = mpsc::channel(CONTROL_QUEUE);
        let inner = Arc::new(Inner {
            out: out_tx,
            table: Mutex::new(Table::default()),
            closed,
            next_id: AtomicU32::new(match role {
                Role::Dialer => 1,
                Role::Acceptor => 2,
            }),
            config,
            role,
            open_slots: tokio::sync::Semaphore::new(MAX_PENDING_OPENS),
            stream_leases: Arc::new(AtomicUsize::new(0)),
            close_watch: Mutex::new(CloseWatch::default()),
            watch_changed: Notify::new(),
            controls_tx,
            controls_rx: Mutex::new(Some(controls_rx)),
        });
        let mux = Mux { inner };
        let last_rx = Arc::new(Mutex::new(Instant::now()));
        tokio::spawn(write_loop(mux.clone(), transport.sink, out_rx));
        tokio::spawn(read_loop(
            mux.clone(),
            transport.stream,
            incoming_tx,
            last_rx.clone(),
        ));
        tokio::spawn(heartbeat(mux.clone(), last_rx));
        (mux, incoming_rx)
    }

    /// Opens a channel and waits for the peer to accept or reject it.
    pub async fn open(&self, spec: OpenSpec) -> Result<Channel, MuxError> {
        self.open_holding(spec, ()).await
    }

    /// Opens a channel as [`Mux::open`] does and keeps `token` for as long as the channel
    /// occupies the link's table: until both sides have closed it, the peer refused it or the
    /// link was lost, whatever the tasks using it do. A count the opener keeps of its channels
    /// (a quota) is thus released on every path, exactly when the channel's slot is.
    pub async fn open_holding(
        &self,
        spec: OpenSpec,
        token: impl Send + 'static,
    ) -> Result<Channel, MuxError> {
        let mut closed = self.inner.closed.subscribe();
        let _slot = tokio::select! {
            s = self.inner.open_slots.acquire() => s.map_err(|_| self.link_error())?,
            _ = closed.wait_for(|c| c.is_some()) => return Err(self.link_error()),
        };
        let id = self.inner.next_id.fetch_add(2, Ordering::Relaxed);
        let (window, lease) = self.inner.window_for(&spec);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let shared = ChannelShared::new(id, RecvWindow::new(window), 0);
        let (tx, rx) = oneshot::channel();
        {
            let mut t = self.inner.lock();
            if let Some(c) = self.closed_reason() {
                return Err(MuxError::LinkClosed(c));
            }
            let entry = Entry {
                events: events_tx,
                shared: shared.clone(),
                remote_closed: false,
                _held: Held {
                    _lease: lease,
                    _token: Some(Box::new(token)),
                },
            };
            t.pending.insert(id, (tx, entry));
        }
        self.inner.send(Frame::Open {
            channel: id,
            window,
            spec,
        })?;
        let peer_window = tokio::select! {
            r = rx => r.map_err(|_| self.link_error())??,
            _ = closed.wait_for(|c| c.is_some()) => return Err(self.link_error()),
        };
        shared.grant_initial(peer_window);
        Ok(Channel::new(shared, events_rx, self.clone()))
    }

    /// Closes the link, telling the peer why.
    pub fn close(&self, code: ErrorCode, reason: &str) {
        self.close_as(code, reason, LinkCause::Closed);
    }

    /// Closes the link as [`Mux::close`] does, and resolves once the closing `ERROR` (and
    /// every frame queued before it) has been written, or the link failed: for a process about
    /// to exit, whose peer should hear why rather than see the connection drop.
    pub async fn goodbye(&self, code: ErrorCode, reason: &str) {
        let (done, written) = oneshot::channel();
        self.close_with(code, reason, LinkCause::Closed, Some(done));
        let _ = written.await;
    }

    fn close_as(&self, code: ErrorCode, reason: &str, cause: LinkCause) {
        self.close_with(code, reason, cause, None);
    }

    fn close_with(
        &self,
        code: ErrorCode,
        reason: &str,
        cause: LinkCause,
        done: Option<oneshot::Sender<()>>,
    ) {
        let frame = Frame::Error {
            channel: 0,
            code,
            reason: reason.to_string(),
        };
        let _ = self.inner.out.send(Out::Close(Some(frame), done));
        self.inner.fail(LinkClosed {
            code: Some(code),
            reason: reason.to_string(),
            cause,
        });
    }

    /// Pings the link every [`CLOSE_WATCH_PING`] and closes it once nothing has arrived for
    /// [`CLOSE_WATCH_SILENCE`], for as long as the returned guard (or another) lives: a user at
    /// an interactive session learns within seconds that the far end went silent, where the
    /// configured heartbeat would take minutes. Silence is counted from the start of the
    /// watch at the earliest, so a link that was quiet before (a server does not ping) is not
    /// taken for dead at once.
    pub fn watch_closely(&self) -> Watching {
        let mut w = self.inner.watch_lock();
        w.count += 1;
        if w.since.is_none() {
            w.since = Some(Instant::now());
        }
        drop(w);
        self.inner.watch_changed.notify_one();
        Watching { mux: self.clone() }
    }

    /// The link-level messages for the application (version 5: a user's login notices and
    /// renewals); `None` after the first call. Unless taken, they are dropped.
    pub fn controls(&self) -> Option<mpsc::Receiver<Control>> {
        self.inner
            .controls_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Sends a notice to a user's client (the server's side). False when the link's version
    /// has no notices, or the link is gone.
    pub fn notice(&self, mut notice: Notice) -> bool {
        // Over-long text would make the peer refuse the frame, and the link with it.
        notice.text = wicket_proto::text::bounded(&notice.text, MAX_NOTICE_LEN).into_owned();
        self.inner.config.version >= LOGIN_FRAMES_VERSION
            && self.inner.send(Frame::Notice(notice)).is_ok()
    }

    /// Sends a newer token for the link's login (a user's client). False when the link's
    /// version has no renewal, or the link is gone.
    pub fn renew(&self, renew: Renew) -> bool {
        self.inner.config.version >= LOGIN_FRAMES_VERSION
            && self.inner.send(Frame::Renew(renew)).is_ok()
    }

    /// The protocol version agreed for this link.
    pub fn version(&self) -> u16 {
        self.inner.config.version
    }

    /// Resolves when the link is gone, with the reason.
    pub async fn closed(&self) -> LinkClosed {
        let mut rx = self.inner.closed.subscribe();
        let why = match rx.wait_for(|c| c.is_some()).await {
            Ok(c) => c.clone().unwrap_or_else(unknown_close),
            Err(_) => unknown_close(),
        };
        why
    }

    pub fn closed_reason(&self) -> Option<LinkClosed> {
        self.inner.closed.borrow().clone()
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.borrow().is_some()
    }

    /// Channels currently in the table, for metrics and tests.
    pub fn channel_count(&self) -> usize {
        self.inner.lock().channels.len()
    }

    fn link_error(&self) -> MuxError {
        MuxError::LinkClosed(self.closed_reason().unwrap_or_else(unknown_close))
    }
}

fn unknown_close() -> LinkClosed {
    LinkClosed {
        code: None,
        reason: "link closed".into(),
        cause: LinkCause::Lost,
    }
}

impl Inner {
    /// The receive window this side grants a channel opened for `spec`, with the lease of a
    /// large stream window when it got one.
    pub(crate) fn window_for(&self, spec: &OpenSpec) -> (u32, Option<StreamLease>) {
        if !spec.is_stream() {
            return (self.config.window, None);
        }
        let most = self.config.stream_windows;
        let leased = self
            .stream_leases
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < most).then_some(n + 1)
            });
        match leased {
            Ok(_) => (
                self.config.stream_window,
                Some(StreamLease(self.stream_leases.clone())),
            ),
            Err(_) => (self.config.window, None),
        }
    }

    fn watch_lock(&self) -> MutexGuard<'_, CloseWatch> {
        self.close_watch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the link closed, once it has.
    pub(crate) fn closed_reason(&self) -> Option<LinkClosed> {
        self.closed.borrow().clone()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock would be a bug in this crate; the table itself stays
        // consistent, so carry on rather than poison every later caller.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn send(&self, frame: Frame) -> Result<(), MuxError> {
        if let Some(c) = self.closed.borrow().clone() {
            return Err(MuxError::LinkClosed(c));
        }
        self.out
            .send(Out::Frame(frame))
            .map_err(|_| MuxError::LinkClosed(unknown_close()))
    }

    /// Marks the link dead (first reason wins) and tells every channel.
    pub(crate) fn fail(&self, why: LinkClosed) {
        let mut first = false;
        self.closed.send_if_modified(|c| {
            if c.is_none() {
                *c = Some(why.clone());
                first = true;
            }
            first
        });
        if !first {
            return;
        }
        // Stop the writer: it holds the sink, and nothing more will be sent.
        let _ = self.out.send(Out::Close(None, None));
        let table = std::mem::take(&mut *self.lock());
        let code = why.code.unwrap_or(ErrorCode::PeerGone);
        let reason = format!("link lost: {}", why.reason);
        for (_, entry) in table.channels {
            let _ = entry.events.send(Event::Error {
                code,
                reason: reason.clone(),
            });
            entry.shared.cut(code, reason.clone());
            entry.shared.shut();
        }
        for (_, (tx, entry)) in table.pending {
            let _ = tx.send(Err(MuxError::LinkClosed(why.clone())));
            entry.shared.cut(code, reason.clone());
            entry.shared.shut();
        }
    }

    /// Called when both halves of a channel are gone or the user closed it.
    pub(crate) fn local_close(&self, id: u32) {
        let mut t = self.lock();
        let remove = match t.channels.get_mut(&id) {
            Some(e) => {
                if e.shared.mark_local_closed() {
                    let _ = self.out.send(Out::Frame(Frame::Close { channel: id }));
                }
                e.remote_closed
            }
            None => false,
        };
        if remove {
            t.channels.remove(&id);
        }
    }

    /// Registers an accepted incoming channel.
    pub(crate) fn insert(&self, id: u32, entry: Entry) {
        let mut t = self.lock();
        t.offered = t.offered.saturating_sub(1);
        t.channels.insert(id, entry);
    }

    /// An offered incoming channel was refused or dropped unanswered.
    pub(crate) fn unoffer(&self) {
        let mut t = self.lock();
        t.offered = t.offered.saturating_sub(1);
    }

    fn peer_parity_ok(&self, id: u32) -> bool {
        let peer_odd = self.role == Role::Acceptor;
        (id % 2 == 1) == peer_odd
    }
}

async fn write_loop(mux: Mux, mut sink: FrameSink, mut rx: mpsc::UnboundedReceiver<Out>) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let result: Result<(), TransportError> = async {
        while let Some(item) = rx.recv().await {
            let (frame, last, done) = match item {
                Out::Frame(f) => (Some(f), false, None),
                Out::Close(f, done) => (f, true, done),
            };
            if let Some(f) = frame {
                tracing::trace!(kind = ?f.kind(), channel = f.channel(), "frame out");
                // The transport copies each message before we encode the next, so by now the
                // previous frame's bytes are usually dropped and `reserve` reuses their
                // allocation instead of making a new one per frame.
                buf.reserve(f.encoded_len());
                f.encode(&mut buf);
                let bytes: Bytes = buf.split().freeze();
                // Feed without flushing while more is queued: fewer, larger writes under load,
                // an immediate flush for a lone keystroke.
                if rx.is_empty() || last {
                    sink.send(bytes).await?;
                    forget_waker(&mut sink);
                } else {
                    sink.feed(bytes).await?;
                }
            }
            if last {
                let _ = sink.close().await;
                if let Some(done) = done {
                    let _ = done.send(());
                }
                return Ok(());
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        mux.inner.fail(LinkClosed {
            code: None,
            reason: format!("write failed: {e}"),
            cause: LinkCause::Lost,
        });
    }
}

/// Leaves no waker of the writer with the transport once a flush has completed.
/// tokio-tungstenite wakes every waker it holds for a socket on any readiness of it, so the
/// writer's, left from its last flush, was woken by every message that arrived: a second task
/// to run per keystroke, and on wicketd's multi-threaded runtime a sleeping worker thread
/// woken to take it (docs/PERFORMANCE.md). Polling the flushed sink once more with a no-op
/// waker puts that in its place; a writer that must wait for the socket registers itself
/// again when it does.
fn forget_waker(sink: &mut FrameSink) {
    let mut cx = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
    let _ = sink.as_mut().poll_flush(&mut cx);
}

async fn read_loop(
    mux: Mux,
    mut stream: FrameStream,
    incoming: mpsc::Sender<IncomingChannel>,
    last_rx: Arc<Mutex<Instant>>,
) {
    let mut closed = mux.inner.closed.subscribe();
    let why = loop {
        let next = tokio::select! {
            n = stream.next() => n,
            _ = closed.wait_for(|c| c.is_some()) => return,
        };
        let bytes = match next {
            None => {
                break LinkClosed {
                    code: None,
                    reason: "the peer closed the link".into(),
                    cause: LinkCause::Lost,
                }
            }
            Some(Err(e)) => {
                break LinkClosed {
                    code: None,
                    reason: e.to_string(),
                    cause: LinkCause::Lost,
                }
            }
            Some(Ok(b)) => b,
        };
        if let Ok(mut t) = last_rx.lock() {
            *t = Instant::now();
        }
        let frame = match Frame::decode(bytes) {
            Ok(f) => f,
            Err(e) => {
                let code = match e {
                    wicket_proto::DecodeError::TooLarge(_) => ErrorCode::FrameTooLarge,
                    _ => ErrorCode::Protocol,
                };
                tracing::warn!(error = %e, "closing link: bad frame from peer");
                mux.close(code, &e.to_string());
                return;
            }
        };
        tracing::trace!(kind = ?frame.kind(), channel = frame.channel(), "frame in");
        match dispatch(&mux, frame, &incoming) {
            Ok(()) => {}
            Err(Stop::PeerClosed(code, reason)) => {
                break LinkClosed {
                    code: Some(code),
                    reason,
                    cause: LinkCause::PeerClosed,
                }
            }
            Err(Stop::Violation(code, reason)) => {
                tracing::warn!(%reason, "closing link: protocol violation");
                mux.close(code, &reason);
                return;
            }
        }
    };
    mux.inner.fail(why);
}

/// Why the reader stops.
enum Stop {
    /// The peer sent an error frame on channel 0: it is closing the link.
    PeerClosed(ErrorCode, String),
    /// The peer broke the protocol; we close the link.
    Violation(ErrorCode, String),
}

/// Routes one frame.
fn dispatch(mux: &Mux, frame: Frame, incoming: &mpsc::Sender<IncomingChannel>) -> Result<(), Stop> {
    let inner = &mux.inner;
    let violation = |r: String| Stop::Violation(ErrorCode::Protocol, r);
    match frame {
        Frame::Ping(n) => {
            let _ = inner.send(Frame::Pong(n));
        }
        Frame::Pong(_) => {}
        Frame::Notice(n) => {
            if inner.role == Role::Acceptor || inner.config.version < LOGIN_FRAMES_VERSION {
                return Err(violation("NOTICE from a peer that may not send it".into()));
            }
            let _ = inner.controls_tx.try_send(Control::Notice(n));
        }
        Frame::Renew(r) => {
            if inner.role == Role::Dialer || inner.config.version < LOGIN_FRAMES_VERSION {
                return Err(violation("RENEW from a peer that may not send it".into()));
            }
            let _ = inner.controls_tx.try_send(Control::Renew(r));
        }
        Frame::ServerHello(_) | Frame::ClientHello(_) | Frame::Welcome(_) => {
            return Err(violation("handshake frame after the handshake".into()));
        }
        Frame::Error {
            channel: 0,
            code,
            reason,
        } => return Err(Stop::PeerClosed(code, format!("{code}: {reason}"))),
        Frame::Open {
            channel,
            window,
            spec,
        } => {
            if !inner.peer_parity_ok(channel) {
                return Err(violation(format!(
                    "peer opened channel {channel} of our parity"
                )));
            }
            {
                let mut t = inner.lock();
                if t.channels.contains_key(&channel) {
                    return Err(violation(format!("channel {channel} is already open")));
                }
                if t.channels.len() + t.offered >= inner.config.max_channels {
                    drop(t);
                    let _ = inner.send(Frame::Reject {
                        channel,
                        code: ErrorCode::TooManyChannels,
                        reason: format!(
                            "at most {} channels on one link",
                            inner.config.max_channels
                        ),
                    });
                    return Ok(());
                }
                t.offered += 1;
            }
            let (events_tx, events_rx) = mpsc::unbounded_channel();
            let (ours, lease) = inner.window_for(&spec);
            let shared = ChannelShared::new(channel, RecvWindow::new(ours), window);
            let pending = IncomingChannel::new(
                mux.clone(),
                shared,
                (events_tx, events_rx),
                lease,
                spec,
                ours,
            );
            if let Err(e) = incoming.try_send(pending) {
                // Nobody accepts channels here, or the queue is full: refuse, don't buffer.
                let p = match e {
                    mpsc::error::TrySendError::Full(p) | mpsc::error::TrySendError::Closed(p) => p,
                };
                p.reject(
                    ErrorCode::Unsupported,
                    "this peer does not accept channels now",
                );
            }
        }
        Frame::Accept { channel, window } => {
            let mut t = inner.lock();
            match t.pending.remove(&channel) {
                Some((tx, entry)) => {
                    t.channels.insert(channel, entry);
                    let _ = tx.send(Ok(window));
                }
                None => return Err(violation(format!("accept for unknown channel {channel}"))),
            }
        }
        Frame::Reject {
            channel,
            code,
            reason,
        } => {
            let mut t = inner.lock();
            match t.pending.remove(&channel) {
                Some((tx, entry)) => {
                    entry.shared.shut();
                    let _ = tx.send(Err(MuxError::Rejected { code, reason }));
                }
                None => return Err(violation(format!("reject for unknown channel {channel}"))),
            }
        }
        Frame::Window { channel, increment } => {
            let t = inner.lock();
            if let Some(e) = t.channels.get(&channel) {
                e.shared
                    .grant(increment)
                    .map_err(|e| violation(e.to_string()))?;
            }
        }
        Frame::Close { channel } => {
            let mut t = inner.lock();
            let remove = match t.channels.get_mut(&channel) {
                Some(e) => {
                    e.remote_closed = true;
                    e.shared.peer_closed();
                    // Dropping the sender ends the receiver's stream after what is queued.
                    let (dead, _) = mpsc::unbounded_channel();
                    e.events = dead;
                    e.shared.is_local_closed()
                }
                None => false,
            };
            if remove {
                t.channels.remove(&channel);
            }
        }
        other => {
            let channel = other.channel();
            let event = match other {
                Frame::Data { data, .. } => Event::Data(data),
                Frame::ExtData { data, .. } => Event::ExtData(data),
                Frame::ZData { data, .. } => Event::ZData(data),
                Frame::Eof { .. } => Event::Eof,
                Frame::Resize { cols, rows, .. } => Event::Resize { cols, rows },
                Frame::Signal { signal, .. } => Event::Signal(signal),
                Frame::Exit { status, .. } => Event::Exit(status),
                Frame::Error { code, reason, .. } => Event::Error { code, reason },
                Frame::InputEcho { len, echo, .. } => Event::InputEcho { len, echo },
                _ => return Ok(()),
            };
            let t = inner.lock();
            // Frames for a channel already closed on our side are late, not wrong: drop them.
            if let Some(e) = t.channels.get(&channel) {
                match &event {
                    Event::Data(d) | Event::ExtData(d) | Event::ZData(d) => e
                        .shared
                        .on_data(d.len())
                        .map_err(|err| violation(format!("channel {channel}: {err}")))?,
                    Event::Eof | Event::Exit(_) => e.shared.peer_finished(),
                    Event::Error { code, reason } => e.shared.cut(*code, reason.clone()),
                    _ => {}
                }
                let _ = e.events.send(event);
            }
        }
    }
    Ok(())
}

/// Pings at the configured interval (the dialer), or every [`CLOSE_WATCH_PING`] while the
/// link is watched closely (either side), and closes a link silent for the configured idle
/// timeout, or for [`CLOSE_WATCH_SILENCE`] while watched.
async fn heartbeat(mux: Mux, last_rx: Arc<Mutex<Instant>>) {
    let cfg = mux.inner.config.clone();
    let base = cfg
        .ping_interval
        .or(cfg.idle_timeout.map(|t| t / 3))
        .unwrap_or(Duration::from_secs(30));
    let mut n: u64 = 0;
    let mut closed = mux.inner.closed.subscribe();
    loop {
        let watched = mux.inner.watch_lock().since.is_some();
        let tick = if watched {
            base.min(CLOSE_WATCH_PING)
        } else {
            base
        };
        let unwatched = cfg.ping_interval.is_none() && cfg.idle_timeout.is_none();
        tokio::select! {
            _ = tokio::time::sleep(tick), if watched || !unwatched => {}
            _ = mux.inner.watch_changed.notified() => continue,
            _ = closed.wait_for(|c| c.is_some()) => return,
        }
        let since = last_rx.lock().map(|t| t.elapsed()).unwrap_or_default();
        let watch_since = mux.inner.watch_lock().since;
        if let Some(start) = watch_since {
            let quiet = since.min(start.elapsed());
            if quiet > CLOSE_WATCH_SILENCE {
                mux.close_as(
                    ErrorCode::Protocol,
                    &format!("heartbeat timeout: nothing heard for {}s", quiet.as_secs()),
                    LinkCause::Silent,
                );
                return;
            }
        }
        if let Some(idle) = cfg.idle_timeout {
            if since > idle {
                mux.close_as(
                    ErrorCode::Protocol,
                    &format!("heartbeat timeout: nothing heard for {}s", since.as_secs()),
                    LinkCause::Silent,
                );
                return;
            }
        }
        if cfg.ping_interval.is_some() || watch_since.is_some() {
            n += 1;
            if mux.inner.send(Frame::Ping(n)).is_err() {
                return;
            }
        }
    }
}

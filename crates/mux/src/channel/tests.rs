use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Sink, SinkExt};
use wicket_proto::{ErrorCode, ExitStatus, Frame, OpenSpec, SessionSpec};

use crate::transport::FrameSink;
use crate::{mem_pair, Event, Mux, MuxConfig, MuxError, Role, Transport, TransportError};

fn spec() -> OpenSpec {
    OpenSpec::Session(SessionSpec::default())
}

fn small(window: u32) -> MuxConfig {
    MuxConfig {
        window,
        ..MuxConfig::default()
    }
}

/// A server side that echoes every data event back and exits with the byte count.
fn spawn_echo_server(t: Transport, cfg: MuxConfig) -> Mux {
    let (mux, mut incoming) = Mux::start(t, Role::Acceptor, cfg);
    tokio::spawn(async move {
        while let Some(inc) = incoming.recv().await {
            let ch = inc.accept().unwrap();
            tokio::spawn(async move {
                let (tx, mut rx) = ch.split();
                let mut total = 0i32;
                while let Some(ev) = rx.recv().await {
                    match ev {
                        Event::Data(d) => {
                            total += d.len() as i32;
                            tx.data(d).await.unwrap();
                        }
                        Event::Eof => {
                            tx.exit(ExitStatus::Code(total)).unwrap();
                            tx.close();
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    mux
}

#[tokio::test]
async fn echo_eof_exit_close() {
    let (a, b) = mem_pair();
    let _server = spawn_echo_server(b, MuxConfig::default());
    let (client, _) = Mux::start(a, Role::Dialer, MuxConfig::default());
    let (tx, mut rx) = client.open(spec()).await.unwrap().split();
    tx.data(Bytes::from_static(b"hello")).await.unwrap();
    tx.eof().unwrap();
    let mut got = Vec::new();
    let mut status = None;
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Data(d) => got.extend_from_slice(&d),
            Event::Exit(s) => status = Some(s),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, b"hello");
    assert_eq!(status, Some(ExitStatus::Code(5)));
}

#[tokio::test]
async fn large_transfer_respects_small_window() {
    let (a, b) = mem_pair();
    let _server = spawn_echo_server(b, small(4096));
    let (client, _) = Mux::start(a, Role::Dialer, small(4096));
    let (tx, mut rx) = client.open(spec()).await.unwrap().split();
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let expected = payload.clone();
    let writer = tokio::spawn(async move {
        tx.data(Bytes::from(payload)).await.unwrap();
        tx.eof().unwrap();
        tx
    });
    let mut got = Vec::new();
    while let Some(ev) = rx.recv().await {
        if let Event::Data(d) = ev {
            got.extend_from_slice(&d);
        }
    }
    writer.await.unwrap();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn a_stalled_channel_does_not_stall_another() {
    let (a, b) = mem_pair();
    let _server = spawn_echo_server(b, small(8192));
    let (client, _) = Mux::start(a, Role::Dialer, small(8192));
    // Channel one: we never read its echo, so the server's sends block on credit.
    let (busy_tx, _busy_rx) = client.open(spec()).await.unwrap().split();
    let flood = tokio::spawn(async move {
        let _ = busy_tx.data(Bytes::from(vec![7u8; 1 << 20])).await;
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !flood.is_finished(),
        "the sender should be held back by credit"
    );
    // Channel two still works.
    let (tx, mut rx) = client.open(spec()).await.unwrap().split();
    tx.data(Bytes::from_static(b"ping")).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .expect("second channel answered");
    assert_eq!(ev, Some(Event::Data(Bytes::from_static(b"ping"))));
    flood.abort();
}

#[tokio::test]
async fn reject_reaches_the_opener() {
    let (a, b) = mem_pair();
    let (_server, mut incoming) = Mux::start(b, Role::Acceptor, MuxConfig::default());
    tokio::spawn(async move {
        while let Some(inc) = incoming.recv().await {
            inc.reject(ErrorCode::UnknownTarget, "no target named x");
        }
    });
    let (client, _) = Mux::start(a, Role::Dialer, MuxConfig::default());
    let err = client.open(spec()).await.err().unwrap();
    assert_eq!(
        err,
        MuxError::Rejected {
            code: ErrorCode::UnknownTarget,
            reason: "no target named x".into()
        }
    );
}

#[tokio::test]
async fn malformed_frame_closes_the_link_with_a_reason() {
    let (mut raw, b) = mem_pair();
    let (server, _incoming) = Mux::start(b, Role::Acceptor, MuxConfig::default());
    raw.sink
        .send(Bytes::from_static(&[0xEE, 0, 0, 0, 1]))
        .await
        .unwrap();
    let reply = raw.recv_frame(Duration::from_secs(2)).await;
    match reply {
        Err(crate::TransportError::Refused { code, reason }) => {
            assert_eq!(code, ErrorCode::Protocol);
            assert!(reason.contains("unknown frame kind"), "{reason}");
        }
        other => panic!("expected an error frame, got {other:?}"),
    }
    let why = tokio::time::timeout(Duration::from_secs(2), server.closed())
        .await
        .unwrap();
    assert_eq!(why.code, Some(ErrorCode::Protocol));
}

#[tokio::test]
async fn credit_overrun_closes_the_link() {
    let (mut raw, b) = mem_pair();
    let (_server, mut incoming) = Mux::start(b, Role::Acceptor, small(16));
    let accept = tokio::spawn(async move {
        let ch = incoming.recv().await.unwrap().accept().unwrap();
        let (_tx, mut rx) = ch.split();
        let mut events = Vec::new();
        while let Some(ev) = rx.recv().await {
            events.push(ev);
        }
        events
    });
    raw.send_frame(&Frame::Open {
        channel: 1,
        window: 1024,
        spec: spec(),
    })
    .await
    .unwrap();
    let accepted = raw.recv_frame(Duration::from_secs(2)).await.unwrap();
    assert_eq!(
        accepted,
        Frame::Accept {
            channel: 1,
            window: 16
        }
    );
    raw.send_frame(&Frame::Data {
        channel: 1,
        data: Bytes::from(vec![0u8; 17]),
    })
    .await
    .unwrap();
    let err = raw.recv_frame(Duration::from_secs(2)).await.unwrap_err();
    assert!(err.to_string().contains("credit"), "{err}");
    let events = accept.await.unwrap();
    assert!(matches!(events.last(), Some(Event::Error { .. })));
}

#[tokio::test]
async fn link_loss_ends_every_channel_with_a_reason() {
    let (a, b) = mem_pair();
    let server = spawn_echo_server(b, MuxConfig::default());
    let (client, _) = Mux::start(a, Role::Dialer, MuxConfig::default());
    let (_tx, mut rx) = client.open(spec()).await.unwrap().split();
    server.close(ErrorCode::Shutdown, "server stopping");
    let ev = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .unwrap();
    match ev {
        Some(Event::Error { reason, .. }) => {
            assert!(reason.contains("server stopping"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(rx.recv().await, None);
    assert!(client.open(spec()).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn silent_peer_is_dropped_by_heartbeat() {
    let (a, _b_kept_silent) = mem_pair();
    let cfg = MuxConfig {
        ping_interval: Some(Duration::from_secs(10)),
        idle_timeout: Some(Duration::from_secs(30)),
        ..MuxConfig::default()
    };
    let (client, _) = Mux::start(a, Role::Dialer, cfg);
    let why = tokio::time::timeout(Duration::from_secs(120), client.closed())
        .await
        .unwrap();
    assert!(why.reason.contains("heartbeat"), "{}", why.reason);
}

/// A closely watched link is dropped within seconds of going silent, and says why; one whose
/// peer answers the watch's pings stays up however long its own heartbeat is.
#[tokio::test(start_paused = true)]
async fn a_closely_watched_link_is_dropped_soon_after_it_goes_silent() {
    let slow = MuxConfig {
        idle_timeout: Some(Duration::from_secs(600)),
        ..MuxConfig::default()
    };
    // A peer that answers: the acceptor pings (it never does otherwise) and hears pongs.
    let (a, b) = mem_pair();
    let (_dialer, _) = Mux::start(a, Role::Dialer, MuxConfig::default());
    let (acceptor, _) = Mux::start(b, Role::Acceptor, slow.clone());
    tokio::time::sleep(Duration::from_secs(100)).await;
    let watch = acceptor.watch_closely();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!acceptor.is_closed(), "{:?}", acceptor.closed_reason());
    drop(watch);

    // A silent peer: the link was quiet for long before the watch, which counts only from
    // its start.
    let (a, _b_kept_silent) = mem_pair();
    let (mux, _) = Mux::start(a, Role::Acceptor, slow);
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert!(!mux.is_closed());
    let started = tokio::time::Instant::now();
    let _watch = mux.watch_closely();
    let why = tokio::time::timeout(Duration::from_secs(60), mux.closed())
        .await
        .unwrap();
    let after = started.elapsed();
    assert!(
        after > crate::CLOSE_WATCH_SILENCE
            && after <= crate::CLOSE_WATCH_SILENCE + crate::CLOSE_WATCH_PING,
        "closed after {after:?}"
    );
    assert_eq!(why.cause, crate::LinkCause::Silent);
    assert!(why.reason.contains("heartbeat"), "{}", why.reason);
}

#[tokio::test]
async fn how_a_link_ended_is_told_apart() {
    // The peer closed it with a reason.
    let (a, b) = mem_pair();
    let server = spawn_echo_server(b, MuxConfig::default());
    let (client, _) = Mux::start(a, Role::Dialer, MuxConfig::default());
    let (tx, _rx) = client.open(spec()).await.unwrap().split();
    assert_eq!(tx.link_closed(), None);
    server.close(ErrorCode::Shutdown, "server stopping");
    let why = client.closed().await;
    assert_eq!(
        (why.cause, why.code),
        (crate::LinkCause::PeerClosed, Some(ErrorCode::Shutdown))
    );
    assert_eq!(tx.link_closed(), Some(why));
    // The transport ended without a word.
    let (a, b) = mem_pair();
    let (client, _) = Mux::start(a, Role::Dialer, MuxConfig::default());
    drop(b);
    assert_eq!(client.closed().await.cause, crate::LinkCause::Lost);
}

/// Notices go from the server to the client and renewals the other way, on version 5 only;
/// the wrong direction or an older link is a protocol violation.
#[tokio::test]
async fn login_frames_reach_the_application_only_where_the_protocol_allows_them() {
    use wicket_proto::{Notice, NoticeKind, Renew};
    let notice = Notice {
        kind: NoticeKind::LoginExpiring,
        text: "soon".into(),
        expires_at: Some(1),
    };
    let (a, b) = mem_pair();
    let (client, _) = Mux::start(a, Role::Dialer, MuxConfig::default());
    let (server, _) = Mux::start(b, Role::Acceptor, MuxConfig::default());
    let (mut to_client, mut to_server) = (client.controls().unwrap(), server.controls().unwrap());
    assert!(client.controls().is_none(), "taken once");
    assert!(server.notice(notice.clone()));
    assert_eq!(
        to_client.recv().await,
        Some(crate::Control::Notice(notice.clone()))
    );
    assert!(client.renew(Renew { token: "t".into() }));
    assert_eq!(
        to_server.recv().await,
        Some(crate::Control::Renew(Renew { token: "t".into() }))
    );
    // A client may not send notices.
    client.inner.send(Frame::Notice(notice.clone())).unwrap();
    assert_eq!(server.closed().await.cause, crate::LinkCause::Closed);

    // Version 4: nothing is sent, and what arrives anyway closes the link.
    let v4 = MuxConfig {
        version: 4,
        ..MuxConfig::default()
    };
    let (a, b) = mem_pair();
    let (client, _) = Mux::start(a, Role::Dialer, v4.clone());
    let (server, _) = Mux::start(b, Role::Acceptor, v4);
    assert!(!server.notice(notice.clone()));
    assert!(!client.renew(Renew { token: "t".into() }));
    server.inner.send(Frame::Notice(notice)).unwrap();
    let why = client.closed().await;
    assert!(why.reason.contains("NOTICE"), "{why:?}");
}

#[tokio::test]
async fn channels_are_freed_after_both_close() {
    let (a, b) = mem_pair();
    let server = spawn_echo_server(b, MuxConfig::default());
    let (client, _) = Mux::start(a, Role::Dialer, MuxConfig::default());
    for _ in 0..20 {
        let (tx, mut rx) = client.open(spec()).await.unwrap().split();
        tx.eof().unwrap();
        while rx.recv().await.is_some() {}
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(client.channel_count(), 0);
    assert_eq!(server.channel_count(), 0);
}

fn tcp_spec() -> OpenSpec {
    OpenSpec::Tcp(wicket_proto::TcpSpec {
        host: "localhost".into(),
        port: 22,
        ..Default::default()
    })
}

/// A `tcp` channel is granted the stream window, a session the session window, each way.
#[tokio::test]
async fn stream_channels_get_the_stream_window() {
    let (a, b) = mem_pair();
    let cfg = MuxConfig {
        window: 1000,
        stream_window: 5000,
        ..MuxConfig::default()
    };
    let (_server, mut incoming) = Mux::start(b, Role::Acceptor, cfg.clone());
    let (client, _) = Mux::start(a, Role::Dialer, cfg);
    let opened = tokio::spawn(async move {
        let tcp = client.open(tcp_spec()).await.unwrap();
        let session = client.open(spec()).await.unwrap();
        (client, tcp, session)
    });
    let tcp_in = incoming.recv().await.unwrap().accept().unwrap();
    let session_in = incoming.recv().await.unwrap().accept().unwrap();
    let (_client, tcp, session) = opened.await.unwrap();
    // Nobody reads on the far side: a sender gets exactly the peer's window, then waits.
    let mut keep = Vec::new();
    for (ch, window) in [(tcp, 5000usize), (session, 1000)] {
        let (tx, rx) = ch.split();
        tx.data(Bytes::from(vec![0u8; window])).await.unwrap();
        let more = tokio::time::timeout(
            Duration::from_millis(100),
            tx.data(Bytes::from_static(b"x")),
        );
        assert!(more.await.is_err(), "sent past a window of {window}");
        keep.push((tx, rx));
    }
    // And the acceptor's side got the same windows from the opener.
    let (tx, _rx) = tcp_in.split();
    tx.data(Bytes::from(vec![0u8; 5000])).await.unwrap();
    let (tx, _rx) = session_in.split();
    tx.data(Bytes::from(vec![0u8; 1000])).await.unwrap();
}

/// Hundreds of opens at once: the opener keeps at most `MAX_PENDING_OPENS` unanswered, so
/// the peer's queue never overflows and none is refused.
#[tokio::test]
async fn a_burst_of_opens_waits_instead_of_being_refused() {
    let (a, b) = mem_pair();
    let _server = spawn_echo_server(b, MuxConfig::default());
    let (client, _) = Mux::start(a, Role::Dialer, MuxConfig::default());
    let mut tasks = Vec::new();
    for _ in 0..(4 * wicket_proto::MAX_PENDING_OPENS) {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client.open(tcp_spec()).await.map(|_| ())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}

/// A sink that remembers the waker of its last `poll_flush`, as tokio-tungstenite keeps the
/// waker of whoever last flushed and wakes it on any readiness of the socket.
struct WakerSpy {
    inner: FrameSink,
    last: Arc<Mutex<Option<Waker>>>,
}

impl Sink<Bytes> for WakerSpy {
    type Error = TransportError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().inner.as_mut().poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Bytes) -> Result<(), Self::Error> {
        self.get_mut().inner.as_mut().start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        *this.last.lock().unwrap() = Some(cx.waker().clone());
        this.inner.as_mut().poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().inner.as_mut().poll_close(cx)
    }
}

/// Once a frame is flushed the writer leaves only a no-op waker with the transport, so a
/// message arriving later does not wake the idle writer as well as the reader (a second task
/// per keystroke, and another thread woken on a multi-threaded runtime).
#[tokio::test]
async fn an_idle_writer_leaves_no_waker_with_the_transport() {
    let (a, b) = mem_pair();
    let last = Arc::new(Mutex::new(None));
    let spy = WakerSpy {
        inner: a.sink,
        last: last.clone(),
    };
    let a = Transport::new(Box::pin(spy), a.stream);
    let _server = spawn_echo_server(b, MuxConfig::default());
    let (client, _) = Mux::start(a, Role::Dialer, MuxConfig::default());
    let (tx, mut rx) = client.open(spec()).await.unwrap().split();
    tx.data(Bytes::from_static(b"x")).await.unwrap();
    loop {
        match rx.recv().await {
            Some(Event::Data(d)) => {
                assert_eq!(&d[..], b"x");
                break;
            }
            Some(_) => continue,
            None => panic!("the channel closed before the echo"),
        }
    }
    let waker = last.lock().unwrap().clone().expect("the writer flushed");
    assert!(
        waker.will_wake(futures_util::task::noop_waker_ref()),
        "the writer's own waker was left with the transport"
    );
}

/// Compressed output goes in whole frames, each waiting for credit for its full length, and
/// arrives untouched; credit comes back as it is consumed, so many frames pass a small window.
#[tokio::test]
async fn zdata_frames_wait_for_whole_credit_and_arrive_whole() {
    let (a, b) = mem_pair();
    let (server, mut incoming) = Mux::start(b, Role::Acceptor, small(8192));
    let (client, _) = Mux::start(a, Role::Dialer, small(8192));
    let sender = tokio::spawn(async move {
        let inc = incoming.recv().await.unwrap();
        let (tx, _rx) = inc.accept().unwrap().split();
        // Half the peer's window at most: credit for more might never come back.
        assert!(tx.fits_zdata(4096) && !tx.fits_zdata(4097));
        assert_eq!(
            tx.zdata(Bytes::from(vec![0; 4097])).await,
            Err(MuxError::ZDataTooLarge { len: 4097 })
        );
        for i in 0..100u8 {
            // 3000 bytes: no two fit the window at once without credit coming back.
            tx.zdata(Bytes::from(vec![i; 3000])).await.unwrap();
        }
        tx.close();
        server
    });
    let (_tx, mut rx) = client.open(spec()).await.unwrap().split();
    let mut frames = 0u8;
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::ZData(d) => {
                assert_eq!(d, vec![frames; 3000]);
                frames += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(frames, 100);
    let _ = sender.await.unwrap();
}

/// Echo reports arrive in order with the data around them and take no credit: a window full
/// of data still lets them through.
#[tokio::test]
async fn input_echo_reports_arrive_in_order_without_credit() {
    let (a, b) = mem_pair();
    let (server, mut incoming) = Mux::start(b, Role::Acceptor, small(4096));
    let (client, _) = Mux::start(a, Role::Dialer, small(4096));
    let sender = tokio::spawn(async move {
        let inc = incoming.recv().await.unwrap();
        let (tx, _rx) = inc.accept().unwrap().split();
        tx.data(Bytes::from(vec![1; 4096])).await.unwrap();
        tx.input_echo(3, false).unwrap();
        tx.input_echo(1, true).unwrap();
        tx.close();
        server
    });
    let (_tx, mut rx) = client.open(spec()).await.unwrap().split();
    let mut got = Vec::new();
    while let Some(ev) = rx.recv().await {
        got.push(match ev {
            Event::Data(d) => Event::Data(Bytes::from(format!("{} bytes", d.len()))),
            other => other,
        });
    }
    assert_eq!(
        got,
        [
            Event::Data(Bytes::from("4096 bytes")),
            Event::InputEcho {
                len: 3,
                echo: false
            },
            Event::InputEcho { len: 1, echo: true },
        ]
    );
    let _ = sender.await.unwrap();
}

/// Opens a channel of `spec` from `client` and accepts it on `incoming`: (opener's, acceptor's).
async fn open_pair(
    client: &Mux,
    incoming: &mut tokio::sync::mpsc::Receiver<crate::IncomingChannel>,
    spec: OpenSpec,
) -> (crate::Channel, crate::Channel) {
    let (opened, accepted) = tokio::join!(client.open(spec), async {
        incoming.recv().await.unwrap().accept().unwrap()
    });
    (opened.unwrap(), accepted)
}

/// Waits up to 100 ms for `rx` to be cut.
async fn cut_soon(rx: &crate::ChannelReceiver) -> Option<crate::Cut> {
    tokio::time::timeout(Duration::from_millis(100), rx.cut())
        .await
        .ok()
}

/// A lost link, an `ERROR`, or a `CLOSE` before `EOF`/`EXIT` cut a channel at once, however
/// much is still queued on it; a `CLOSE` after the end of the stream does not.
#[tokio::test]
async fn a_channel_is_cut_by_link_loss_error_or_an_early_close_and_not_by_an_orderly_end() {
    let (a, b) = mem_pair();
    let (server, mut incoming) = Mux::start(b, Role::Acceptor, MuxConfig::default());
    let (client, _) = Mux::start(a, Role::Dialer, MuxConfig::default());

    let (orderly, orderly_in) = open_pair(&client, &mut incoming, spec()).await;
    let (tx, _rx) = orderly.split();
    tx.data(Bytes::from_static(b"queued")).await.unwrap();
    tx.eof().unwrap();
    tx.close();
    let (_in_tx, in_rx) = orderly_in.split();
    assert_eq!(cut_soon(&in_rx).await, None, "an orderly close is no cut");

    let (exited, exited_in) = open_pair(&client, &mut incoming, spec()).await;
    let (tx, _rx) = exited.split();
    tx.exit(ExitStatus::Code(0)).unwrap();
    tx.close();
    let (_in_tx, in_rx) = exited_in.split();
    assert_eq!(cut_soon(&in_rx).await, None, "a close after EXIT is no cut");

    let (early, early_in) = open_pair(&client, &mut incoming, spec()).await;
    let (tx, _rx) = early.split();
    tx.data(Bytes::from_static(b"queued")).await.unwrap();
    tx.close();
    let (_in_tx, in_rx) = early_in.split();
    let cut = cut_soon(&in_rx).await.expect("a close before EOF cuts");
    assert_eq!(cut.code, ErrorCode::PeerGone);

    let (failed, failed_in) = open_pair(&client, &mut incoming, spec()).await;
    let (tx, _rx) = failed.split();
    tx.data(Bytes::from_static(b"queued")).await.unwrap();
    tx.error(ErrorCode::ConnectFailed, "connection reset")
        .unwrap();
    let (_in_tx, in_rx) = failed_in.split();
    let cut = cut_soon(&in_rx).await.expect("an ERROR cuts");
    assert_eq!(
        (cut.code, cut.reason.as_str()),
        (ErrorCode::ConnectFailed, "connection reset")
    );

    // Work that would wait for ever is given up once the channel is cut by a lost link.
    let (lost, lost_in) = open_pair(&client, &mut incoming, spec()).await;
    let (tx, _rx) = lost.split();
    tx.data(Bytes::from_static(b"queued")).await.unwrap();
    let (_in_tx, in_rx) = lost_in.split();
    let waiting = tokio::spawn(async move {
        in_rx
            .unless_cut(std::future::pending::<Result<(), MuxError>>())
            .await
    });
    client.close(ErrorCode::Shutdown, "client stopping");
    let given_up = tokio::time::timeout(Duration::from_secs(2), waiting)
        .await
        .expect("unless_cut returned")
        .unwrap();
    match given_up {
        Err(MuxError::Cut(c)) => assert!(c.reason.contains("link lost"), "{}", c.reason),
        other => panic!("{other:?}"),
    }
    drop(server);
}

/// Only `stream_windows` byte-stream channels hold the large window at once; the next gets the
/// session window, and a closed one gives its large window to a later channel.
#[tokio::test]
async fn a_link_grants_the_stream_window_to_a_few_channels_at_once() {
    let (a, b) = mem_pair();
    let cfg = MuxConfig {
        window: 1000,
        stream_window: 5000,
        stream_windows: 2,
        ..MuxConfig::default()
    };
    let (_server, mut incoming) = Mux::start(b, Role::Acceptor, cfg.clone());
    let (client, _) = Mux::start(a, Role::Dialer, cfg);
    // What the acceptor granted: a sender gets exactly that, then waits.
    async fn granted(ch: crate::Channel) -> (usize, crate::ChannelSender) {
        let (tx, _rx) = ch.split();
        let mut n = 0;
        while tokio::time::timeout(Duration::from_millis(50), tx.data(Bytes::from_static(b"x")))
            .await
            .is_ok()
        {
            n += 1;
        }
        (n, tx)
    }
    let mut kept = Vec::new();
    for want in [5000, 5000, 1000] {
        let (ch, ch_in) = open_pair(&client, &mut incoming, tcp_spec()).await;
        let (n, tx) = granted(ch).await;
        assert_eq!(n, want);
        kept.push((tx, ch_in));
    }
    // The first closes on both sides: its large window goes to the next channel.
    let (tx, ch_in) = kept.remove(0);
    tx.close();
    drop(ch_in);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (ch, _ch_in) = open_pair(&client, &mut incoming, tcp_spec()).await;
    assert_eq!(granted(ch).await.0, 5000);
}

/// Opens the application has not answered yet count against `max_channels`: a peer cannot
/// queue any number of them.
#[tokio::test]
async fn unanswered_opens_count_against_the_channel_limit() {
    let (a, b) = mem_pair();
    let cfg = MuxConfig {
        max_channels: 2,
        ..MuxConfig::default()
    };
    let (_server, mut incoming) = Mux::start(b, Role::Acceptor, cfg);
    let (client, _) = Mux::start(a, Role::Dialer, MuxConfig::default());
    let opens: Vec<_> = (0..2)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.open(spec()).await.map(|_| ()) })
        })
        .collect();
    let first = incoming.recv().await.unwrap();
    let second = incoming.recv().await.unwrap();
    let err = client.open(spec()).await.err().unwrap();
    assert_eq!(
        err,
        MuxError::Rejected {
            code: ErrorCode::TooManyChannels,
            reason: "at most 2 channels on one link".into()
        }
    );
    // An answer frees the slot.
    first.reject(ErrorCode::Forbidden, "no");
    drop(second);
    for o in opens {
        assert!(o.await.unwrap().is_err());
    }
    let third = tokio::spawn({
        let c = client.clone();
        async move { c.open(spec()).await.map(|_| ()) }
    });
    incoming.recv().await.unwrap().accept().unwrap();
    third.await.unwrap().unwrap();
}

/// The token given to `open_holding` is kept while the channel holds its slot and dropped
/// when it leaves the table, whichever way: refused, closed by both sides, link lost.
#[tokio::test]
async fn an_open_holds_its_token_until_the_channel_leaves_the_table() {
    let (a, b) = mem_pair();
    let (server, mut incoming) = Mux::start(b, Role::Acceptor, MuxConfig::default());
    let (client, _) = Mux::start(a, Role::Dialer, MuxConfig::default());
    let token = Arc::new(());
    let held = || Arc::strong_count(&token) - 1;

    // Refused.
    let (opened, _) = tokio::join!(client.open_holding(spec(), token.clone()), async {
        incoming
            .recv()
            .await
            .unwrap()
            .reject(ErrorCode::Forbidden, "no")
    });
    assert!(opened.is_err());
    assert_eq!(held(), 0);

    // Closed by both sides: held until the second close.
    let (opened, accepted) = tokio::join!(client.open_holding(spec(), token.clone()), async {
        incoming.recv().await.unwrap().accept().unwrap()
    });
    let (tx, rx) = opened.unwrap().split();
    tx.eof().unwrap();
    drop((tx, rx));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(held(), 1, "released before the peer closed");
    drop(accepted);
    assert!(wait(|| held() == 0).await, "kept after both closed");

    // Link lost.
    let (opened, _accepted) = tokio::join!(client.open_holding(spec(), token.clone()), async {
        incoming.recv().await.unwrap().accept().unwrap()
    });
    let _kept = opened.unwrap();
    assert_eq!(held(), 1);
    server.close(ErrorCode::Shutdown, "going");
    assert!(wait(|| held() == 0).await, "kept after the link was lost");
}

async fn wait(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

//! The console's terminal: `GET /v1/console/terminal`, a WebSocket between the page's
//! xterm.js and one session. The session is opened on an in-memory user link
//! ([`crate::client_link::serve_in_memory`]) exactly as `wicket connect` opens one on its
//! link, so what the broker checks, records and audits is the same; this module only speaks
//! the page's simpler messages ([`wicket_api::console`]): binary for keystrokes and output,
//! JSON text for a resize, an acknowledgement and the end.
//!
//! **Backpressure end to end:** output is read from the session's channel only while less
//! than [`TERMINAL_WINDOW`] bytes are sent and not yet drawn by the page (it acknowledges what
//! xterm.js has written). A page that falls behind stops the reads, the channel's credit runs
//! out, and the agent stops reading the terminal: `yes` is throttled at the browser's speed,
//! and Ctrl-C reaches it past at most a window of output.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use wicket_api::console::{TerminalControl, TerminalEvent, TerminalQuery, TERMINAL_WINDOW};
use wicket_mux::{ChannelReceiver, ChannelSender, Event, Mux, MuxConfig, MuxError, Role};
use wicket_proto::handshake::negotiate;
use wicket_proto::{
    ClientHello, ErrorCode, ExitStatus, Frame, OpenSpec, PtySpec, SessionSpec, SUPPORTED_VERSIONS,
};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// The most one keystroke message may carry: a large paste arrives as several.
const MAX_INPUT: usize = 64 * 1024;
/// The terminal type the page's xterm.js emulates.
const TERM: &str = "xterm-256color";
/// Larger is not a terminal a browser shows.
const MAX_SIZE: u16 = 1000;
const HANDSHAKE: Duration = Duration::from_secs(10);

pub(crate) async fn upgrade(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<TerminalQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Err(e) = check(&query) {
        return e.into_response();
    }
    upgrade
        .max_message_size(MAX_INPUT)
        .max_frame_size(MAX_INPUT)
        .on_upgrade(move |socket| run(state, caller, query, socket))
}

fn check(q: &TerminalQuery) -> Result<(), ApiError> {
    crate::limits::length("target", &q.target, crate::limits::NAME)?;
    crate::limits::length(
        "run-as user",
        q.run_as.as_deref().unwrap_or(""),
        crate::limits::NAME,
    )?;
    for (what, n) in [("cols", q.cols), ("rows", q.rows)] {
        if n == 0 || n > MAX_SIZE {
            return Err(ApiError::bad_request(format!(
                "{what} must be between 1 and {MAX_SIZE}"
            )));
        }
    }
    Ok(())
}

async fn run(state: AppState, caller: Caller, q: TerminalQuery, mut ws: WebSocket) {
    let heartbeat = state.config().heartbeat;
    let opened = async {
        let mux = dial(
            crate::client_link::serve_in_memory(state, caller),
            heartbeat,
        )
        .await?;
        let spec = SessionSpec {
            target: Some(q.target.clone()),
            run_as: q.run_as.clone().filter(|u| !u.is_empty()),
            pty: Some(PtySpec {
                term: TERM.into(),
                cols: q.cols,
                rows: q.rows,
            }),
            ..SessionSpec::default()
        };
        let channel = mux
            .open(OpenSpec::Session(spec))
            .await
            .map_err(|e| match e {
                MuxError::Rejected { reason, .. } => reason,
                other => other.to_string(),
            })?;
        Ok::<_, String>((mux, channel))
    };
    let (mux, channel) = match opened.await {
        Ok(v) => v,
        Err(message) => {
            end(&mut ws, None, message).await;
            return;
        }
    };
    if send_event(&mut ws, &TerminalEvent::Started).await.is_err() {
        mux.close(ErrorCode::Shutdown, "the user disconnected");
        return;
    }
    let (tx, rx) = channel.split();
    let (code, message) = relay(&mut ws, tx, rx).await;
    end(&mut ws, code, message).await;
    mux.goodbye(ErrorCode::Shutdown, "the user disconnected")
        .await;
}

/// The user's end of the in-memory link: the CLI's handshake, at the highest version both
/// sides speak (they are the same build).
async fn dial(mut t: wicket_mux::Transport, heartbeat: Duration) -> Result<Mux, String> {
    let failed = |e: wicket_mux::TransportError| format!("the session could not start: {e}");
    let Frame::ServerHello(hello) = t.recv_frame(HANDSHAKE).await.map_err(failed)? else {
        return Err("the session could not start: no server hello".into());
    };
    let version = negotiate(SUPPORTED_VERSIONS, &hello.versions)
        .ok_or("the session could not start: no common protocol version")?;
    t.send_frame(&Frame::ClientHello(ClientHello {
        version,
        client_version: format!("console {}", crate::VERSION),
        agent: None,
    }))
    .await
    .map_err(failed)?;
    let Frame::Welcome(_) = t.recv_frame(HANDSHAKE).await.map_err(failed)? else {
        return Err("the session could not start: no welcome".into());
    };
    let config = MuxConfig {
        ping_interval: Some(heartbeat),
        version,
        ..MuxConfig::default()
    };
    Ok(Mux::start(t, Role::Dialer, config).0)
}

/// Splices the page and the session until either ends; returns the exit code and the words
/// for the page.
async fn relay(
    ws: &mut WebSocket,
    tx: ChannelSender,
    mut rx: ChannelReceiver,
) -> (Option<i32>, String) {
    let (mut sent, mut drawn) = (0u64, 0u64);
    let mut status: Option<ExitStatus> = None;
    let mut error: Option<String> = None;
    loop {
        let room = sent.saturating_sub(drawn) < TERMINAL_WINDOW;
        tokio::select! {
            message = ws.recv() => match message {
                Some(Ok(Message::Binary(keys))) => {
                    if tx.data(keys).await.is_err() { break; }
                }
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str::<TerminalControl>(text.as_str()) {
                        Ok(TerminalControl::Resize { cols, rows }) => {
                            let (cols, rows) = (cols.clamp(1, MAX_SIZE), rows.clamp(1, MAX_SIZE));
                            let _ = tx.resize(cols, rows);
                        }
                        Ok(TerminalControl::Ack { bytes }) => drawn = drawn.saturating_add(bytes).min(sent),
                        Err(_) => {
                            tx.close();
                            return (None, "the console page sent a message wicketd does not understand".into());
                        }
                    }
                }
                // The page closed or went away: the session ends as a CLI's does on `~.`.
                None | Some(Ok(Message::Close(_))) | Some(Err(_)) => {
                    tx.close();
                    return (None, "the user disconnected".into());
                }
                Some(Ok(_)) => {} // pings and pongs
            },
            event = rx.recv(), if room => match event {
                Some(Event::Data(out)) | Some(Event::ExtData(out)) => {
                    sent += out.len() as u64;
                    if ws.send(Message::Binary(out)).await.is_err() {
                        tx.close();
                        return (None, "the user disconnected".into());
                    }
                }
                Some(Event::Exit(s)) => status = Some(s),
                Some(Event::Error { reason, .. }) => error = Some(reason),
                Some(_) => {}
                None => break,
            },
        }
    }
    match (error, status) {
        (Some(reason), _) => (None, reason),
        (None, Some(s)) => (Some(s.shell_code()), exited(s)),
        (None, None) => (None, "the session ended".into()),
    }
}

fn exited(s: ExitStatus) -> String {
    match s {
        ExitStatus::Code(0) => "the session ended".into(),
        ExitStatus::Code(c) => format!("the session ended with exit status {c}"),
        ExitStatus::Signal(n) => format!("the shell was killed by signal {n}"),
    }
}

async fn end(ws: &mut WebSocket, exit_code: Option<i32>, message: String) {
    let _ = send_event(ws, &TerminalEvent::Ended { exit_code, message }).await;
    let _ = ws.send(Message::Close(None)).await;
}

async fn send_event(ws: &mut WebSocket, event: &TerminalEvent) -> Result<(), axum::Error> {
    // Serialising an enum of strings and numbers cannot fail.
    let text = serde_json::to_string(event).unwrap_or_default();
    ws.send(Message::Text(text.into())).await
}

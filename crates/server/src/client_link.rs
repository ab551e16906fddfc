//! The users' endpoint: `GET /v1/link`, a WebSocket authenticated by the bearer token on the
//! upgrade request. Each channel the user opens is a session request (or a TCP forward, see
//! [`crate::forwards`]): the server checks it, opens a matching channel on the target's agent
//! link and splices the two.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use wicket_audit::Outcome;
use wicket_mux::{
    Channel, ChannelReceiver, ChannelSender, Event, IncomingChannel, MuxError, Transport,
};
use wicket_proto::{ErrorCode, ExitStatus, OpenSpec, SessionSpec};
use wicket_recording::recorder::RecorderHandle;
use wicket_recording::SessionMeta;
use wicket_store::SessionRecord;

use crate::audit;
use crate::auth::Caller;
use crate::authz::{authorize, Action, Facts, Resource};
use crate::handshake::{hello, refuse, welcome};
use crate::recordings::{self, Start};
use crate::sessions::LiveSession;
use crate::settings::{effective, SessionSettings};
use crate::state::AppState;
use crate::ws;

pub async fn upgrade(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    upgrade: WebSocketUpgrade,
) -> Response {
    ws::limit(upgrade).on_upgrade(move |socket| serve_user(state, caller, ws::transport(socket)))
}

async fn serve_user(state: AppState, caller: Caller, mut t: Transport) {
    let version = match hello(&mut t).await {
        Ok((_, h)) => h.version,
        Err(r) => return refuse(&mut t, r).await,
    };
    let max_channels = state.config().max_channels_per_user_link;
    let Some((mux, mut incoming)) = welcome(&state, t, version, max_channels).await else {
        return;
    };
    tracing::debug!(user = %caller.user.name, "user link up");
    while let Some(request) = incoming.recv().await {
        if let Err(e) = crate::limits::open_spec(request.spec()) {
            request.reject(ErrorCode::Protocol, &e.to_string());
            continue;
        }
        match request.spec().clone() {
            OpenSpec::Session(mut spec) => {
                // Compressed output only for a client whose link speaks version 4.
                spec.compress_output &= version >= 4;
                tokio::spawn(open_session(state.clone(), caller.clone(), request, spec));
            }
            OpenSpec::Copy(spec) => {
                tokio::spawn(crate::copies::open_copy(
                    state.clone(),
                    caller.clone(),
                    request,
                    spec,
                ));
            }
            OpenSpec::Tcp(spec) => {
                tokio::spawn(crate::forwards::open_forward(
                    state.clone(),
                    caller.clone(),
                    request,
                    spec,
                ));
            }
        }
    }
    let _ = mux.closed().await;
}

/// Checks a session request, opens it on the agent, and relays until both ends close or access
/// is taken away. The session is recorded from the first byte and kept in the history.
async fn open_session(
    state: AppState,
    caller: Caller,
    request: IncomingChannel,
    spec: SessionSpec,
) {
    let brokered = match broker(&state, &caller, spec).await {
        Ok(b) => b,
        Err((code, reason)) => {
            tracing::info!(user = %caller.user.name, %code, %reason, "session refused");
            request.reject(code, &reason);
            return;
        }
    };
    let Brokered {
        agent_channel,
        live,
        settings,
        mut record,
        recording,
        compressed,
    } = brokered;
    let resource = format!("target:{}", record.target_name);
    let session_event = |action: &str, outcome, details| {
        audit::event(
            &caller.user.name,
            caller.source_ip,
            action,
            &resource,
            outcome,
            details,
        )
    };
    // Fail closed: a session that is not on record does not start.
    let start = session_event(
        "session.start",
        Outcome::Success,
        serde_json::json!({
            "session_id": live.id,
            "target_id": live.target_id,
            "kind": live.action.as_str(),
            "run_as": live.run_as,
            "command": record.command,
            "pty": record.tty,
            "recording": record.recording,
        }),
    );
    if state.audit().append(start).await.is_err() {
        agent_channel.split().0.close();
        discard_recording(&state, recording, &live.id).await;
        request.reject(
            ErrorCode::Internal,
            "the audit log is unavailable; the session was not started",
        );
        return;
    }
    let user_channel = match request.accept() {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "user left before the session opened");
            agent_channel.split().0.close();
            discard_recording(&state, recording, &live.id).await;
            state
                .audit()
                .record(session_event(
                    "session.end",
                    Outcome::Failure,
                    serde_json::json!({
                        "session_id": live.id,
                        "bytes_in": 0,
                        "bytes_out": 0,
                        "reason": "the user left before the session opened",
                    }),
                ))
                .await;
            return;
        }
    };
    let id = live.id.clone();
    if let Err(e) = state.store().insert_session(&record).await {
        tracing::warn!(session = %id, error = %e, "could not write the session history");
    }
    let guard = state.sessions().register(live);
    let (recorder, handle) = match recording {
        Start::Recording(r) => {
            let h = r.handle();
            (Some(r), Some(h))
        }
        Start::Unrecorded(_) => (None, None),
    };
    let taps = Taps {
        recorder: handle,
        watchers: guard.output.clone(),
        counters: Default::default(),
        user_reads_zdata: compressed,
    };
    let outcome = relay(
        user_channel,
        agent_channel,
        guard.ended.clone(),
        &settings,
        record.tty,
        &taps,
    )
    .await;
    drop(guard);
    drop(taps.recorder);
    let manifest = match recorder {
        Some(r) => r.finish().await.map_err(|e| e.to_string()),
        None => Err(String::new()),
    };
    record.recording = match (&manifest, record.recording.as_str()) {
        (_, "unrecorded") => "unrecorded".into(),
        (Ok(_), _) if outcome.recording_failed.is_none() => "recorded".into(),
        _ => "failed".into(),
    };
    let manifest = manifest.ok();
    let end = wicket_store::SessionEnd {
        ended_at: crate::now_ms(),
        reason: outcome.reason.clone(),
        exit_status: outcome.exit.clone(),
        bytes_in: taps.counters.input.load(Ordering::Relaxed) as i64,
        bytes_out: taps.counters.output.load(Ordering::Relaxed) as i64,
        recording: record.recording.clone(),
        recording_sha256: manifest.as_ref().map(|m| m.sha256.clone()),
        recording_bytes: manifest.as_ref().map(|m| m.bytes as i64),
    };
    tracing::info!(
        session = %id,
        reason = %end.reason,
        bytes_in = end.bytes_in,
        bytes_out = end.bytes_out,
        recording = %end.recording,
        sha256 = end.recording_sha256.as_deref().unwrap_or("-"),
        "session ended"
    );
    let (exit_code, signal) = match outcome.exit_status {
        Some(ExitStatus::Code(c)) => (Some(c), None),
        Some(ExitStatus::Signal(s)) => (None, Some(s)),
        None => (None, None),
    };
    // The recording's hash is sealed into the chain here: altering the recording later, or
    // this event, is caught by `wicket audit verify --recordings`.
    let end_outcome = if record.recording == "failed" {
        Outcome::Failure
    } else {
        Outcome::Success
    };
    state
        .audit()
        .record(session_event(
            "session.end",
            end_outcome,
            serde_json::json!({
                "session_id": id,
                "exit_code": exit_code,
                "signal": signal,
                "bytes_in": end.bytes_in,
                "bytes_out": end.bytes_out,
                "reason": end.reason,
                "recording": end.recording,
                "recording_sha256": end.recording_sha256,
                "recording_bytes": end.recording_bytes,
            }),
        ))
        .await;
    // The history says "ended" only once the chain holds the end (and the sealed hash).
    state.audit().flush().await;
    if let Err(e) = state.store().end_session(&id, &end).await {
        tracing::warn!(session = %id, error = %e, "could not complete the session history");
    }
}

/// Drops the recording of a session that never ran.
async fn discard_recording(state: &AppState, recording: Start, id: &str) {
    if let Start::Recording(r) = recording {
        let _ = r.finish().await;
        let _ = state.recordings().delete(id).await;
    }
}

/// A session request that passed every check, with its agent channel open.
struct Brokered {
    agent_channel: Channel,
    live: LiveSession,
    settings: SessionSettings,
    /// The history row, written once the user accepted.
    record: SessionRecord,
    recording: Start,
    /// The agent was asked for compressed output (the user's client reads `ZDATA`).
    compressed: bool,
}

/// A target by name, else by id; revoked targets do not exist for users.
pub async fn find_target(
    state: &AppState,
    wanted: &str,
) -> Result<wicket_store::Target, (ErrorCode, String)> {
    let internal = |e: wicket_store::StoreError| (ErrorCode::Internal, e.to_string());
    let target = match state
        .store()
        .target_by_name(wanted)
        .await
        .map_err(internal)?
    {
        Some(t) => Some(t),
        None => state.store().target_by_id(wanted).await.map_err(internal)?,
    };
    target.filter(|t| t.revoked_at.is_none()).ok_or_else(|| {
        (
            ErrorCode::UnknownTarget,
            format!("unknown target \"{}\"", crate::limits::shown(wanted)),
        )
    })
}

/// The OS user a session, command or copy on `target` will really run as, resolved before
/// the policy is asked, so that what the policy decides on (and the audit records) is what
/// then runs: the user the request names, else the configured `default_run_as`, else the user
/// the target's agent runs as, which it reports when it connects (for an agent running as
/// root, `root`). The agent is then always told the user explicitly. An agent too old to
/// report its user gets no session without a named one: "nobody named" must never slip past
/// a `forbid ... context.run_as == "root"`.
pub fn resolve_run_as(
    state: &AppState,
    target: &wicket_store::Target,
    requested: Option<String>,
) -> Result<String, (ErrorCode, String)> {
    let agent_user = || {
        state
            .agents()
            .get(&target.id)
            .map(|a| a.user)
            .or_else(|| target.inventory.as_ref().map(|i| i.user.clone()))
            .filter(|u| !u.is_empty())
    };
    requested
        .filter(|r| !r.is_empty())
        .or_else(|| state.config().default_run_as.clone())
        .or_else(agent_user)
        .ok_or_else(|| match online_agent(state, target, 1, "sessions") {
            // Never connected: offline is what the user needs to hear.
            Err(offline) => offline,
            Ok(_) => (
                ErrorCode::Forbidden,
                format!(
                    "target {}'s agent does not say which user it runs as (it predates that): \
                     name the user to run as (--user), or upgrade wicket-agent there",
                    target.name
                ),
            ),
        })
}

/// The target's live agent link, refused with a clear reason when the agent is offline or
/// speaks a protocol older than `needed` (`feature` names what that version brings).
pub fn online_agent(
    state: &AppState,
    target: &wicket_store::Target,
    needed: u16,
    feature: &str,
) -> Result<crate::registry::AgentConn, (ErrorCode, String)> {
    let agent = state.agents().get(&target.id).ok_or_else(|| {
        (
            ErrorCode::TargetOffline,
            format!(
                "target {} is offline (its agent is not connected)",
                target.name
            ),
        )
    })?;
    if agent.version < needed {
        return Err((
            ErrorCode::Unsupported,
            format!(
                "target {}'s agent speaks protocol version {}, which has no {feature} \
                 (version {needed} or later is needed): upgrade wicket-agent on that host",
                target.name, agent.version
            ),
        ));
    }
    Ok(agent)
}

/// What the user is told when the agent refuses or fails to open a channel.
pub fn open_failed(target: &str, e: MuxError) -> (ErrorCode, String) {
    match e {
        MuxError::Rejected { code, reason } => (code, reason),
        other => (
            ErrorCode::TargetOffline,
            format!("target {target}: {other}"),
        ),
    }
}

async fn broker(
    state: &AppState,
    caller: &Caller,
    mut spec: SessionSpec,
) -> Result<Brokered, (ErrorCode, String)> {
    let wanted = spec.target.take().ok_or((
        ErrorCode::UnknownTarget,
        "no target named in the request".into(),
    ))?;
    let target = find_target(state, &wanted).await?;
    spec.run_as = Some(resolve_run_as(state, &target, spec.run_as.take())?);
    // A shell is `connect`; a command is `exec`: policies may allow one and not the other.
    let action = if spec.command.is_some() {
        Action::Exec
    } else {
        Action::Connect
    };
    let facts = Facts {
        run_as: spec.run_as.clone(),
        ..Facts::default()
    };
    let decision = authorize(state, caller, action, Resource::Target(&target), &facts)
        .await
        .map_err(crate::authz::channel_refusal)?;
    let policies = state.policies();
    let annotations: Vec<_> = decision
        .policy_ids
        .iter()
        .map(|id| policies.annotations(id))
        .collect();
    let settings = effective(
        &state.config().session,
        &state.config().session_overrides,
        &target,
        &annotations,
    );
    spec.env
        .extend(settings.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    if settings.working_dir.is_some() {
        spec.cwd = settings.working_dir.clone();
    }
    let agent = online_agent(state, &target, 1, "sessions")?;
    // The agent compresses bulk output when the user's client reads it and the agent can:
    // the server then relays and records compressed bytes as they came.
    spec.compress_output &= agent.version >= 4;
    let session_id = format!("ses_{}", hex::encode(crate::secrets::random_bytes::<8>()));
    spec.user = Some(caller.user.name.clone());
    spec.session_id = Some(session_id.clone());
    tracing::info!(
        user = %caller.user.name,
        target = %target.name,
        action = action.as_str(),
        run_as = spec.run_as.as_deref().unwrap_or(""),
        session = %session_id,
        "session opening"
    );
    // Recording starts before anything runs on the target: if it cannot, nothing runs.
    let meta = SessionMeta {
        session_id: session_id.clone(),
        user: caller.user.name.clone(),
        target: target.name.clone(),
        run_as: spec.run_as.clone(),
    };
    let recording = recordings::start(state, meta, spec.pty.as_ref()).await?;
    let record = SessionRecord {
        id: session_id.clone(),
        user_id: caller.user.id.clone(),
        user_name: caller.user.name.clone(),
        target_id: target.id.clone(),
        target_name: target.name.clone(),
        action: action.as_str().to_owned(),
        run_as: spec.run_as.clone(),
        command: spec.command.clone(),
        tty: spec.pty.is_some(),
        source_ip: caller.source_ip.map(|ip| ip.to_string()),
        started_at: crate::now_ms(),
        ended_at: None,
        end_reason: None,
        exit_status: None,
        bytes_in: 0,
        bytes_out: 0,
        recording: match &recording {
            Start::Recording(_) => "recorded".into(),
            Start::Unrecorded(_) => "unrecorded".into(),
        },
        recording_sha256: None,
        recording_bytes: None,
        replica: Some(state.replica().to_owned()),
    };
    let live = LiveSession {
        id: session_id,
        user_id: caller.user.id.clone(),
        token_id: caller.token_id.clone(),
        target_id: target.id.clone(),
        action,
        run_as: spec.run_as.clone(),
        source_ip: caller.source_ip,
        dest: None,
    };
    let compressed = spec.compress_output;
    let opened = agent
        .open(&caller.user.id, &target.name, OpenSpec::Session(spec))
        .await;
    let agent_channel = match opened {
        Ok(c) => c,
        Err(e) => {
            // Nothing ran: the header-only recording is not worth keeping.
            if let Start::Recording(r) = recording {
                let _ = r.finish().await;
                let _ = state.recordings().delete(&record.id).await;
            }
            return Err(open_failed(&target.name, e));
        }
    };
    Ok(Brokered {
        agent_channel,
        live,
        settings,
        record,
        recording,
        compressed,
    })
}

/// What the relay feeds besides the other side: the recorder, live watchers, byte counts.
struct Taps {
    recorder: Option<RecorderHandle>,
    watchers: tokio::sync::broadcast::Sender<Bytes>,
    counters: Counters,
    /// The user's client asked for `ZDATA`; an agent that sends it unasked (or a payload too
    /// large for the client's window) is inflated for the client, never passed to one that
    /// cannot decode it.
    user_reads_zdata: bool,
}

#[derive(Default)]
struct Counters {
    /// Bytes the user sent to the session.
    input: AtomicU64,
    /// Bytes the session sent to the user.
    output: AtomicU64,
}

/// How a relay ended.
struct RelayEnd {
    reason: String,
    /// The exit status in words, for the session history.
    exit: Option<String>,
    exit_status: Option<ExitStatus>,
    /// Set when the recording failed, which ended the session (fail-closed).
    recording_failed: Option<String>,
}

/// Splices a user's channel and an agent's channel. Each direction runs on its own so that a
/// stalled reader on one side never blocks the other; credit on both links bounds what waits
/// here to about one window per direction. The session ends early, with the reason sent to the
/// user, when access is taken away (`ended` fires), when it is idle too long, when it reaches
/// its maximum duration, or when its recording fails; closing both channels hangs up the
/// remote shell.
async fn relay(
    user: Channel,
    agent: Channel,
    mut ended: tokio::sync::watch::Receiver<Option<String>>,
    settings: &SessionSettings,
    pty: bool,
    taps: &Taps,
) -> RelayEnd {
    let (user_tx, user_rx) = user.split();
    let (agent_tx, agent_rx) = agent.split();
    if let Some(banner) = settings.banner.as_deref().filter(|b| !b.is_empty()) {
        let text = if pty {
            format!("{}\r\n", banner.replace('\n', "\r\n"))
        } else {
            format!("{banner}\n")
        };
        let bytes = Bytes::from(text);
        if let Some(r) = &taps.recorder {
            let _ = r.output(bytes.clone()).await;
        }
        let _ = if pty {
            user_tx.data(bytes).await
        } else {
            user_tx.ext_data(bytes).await
        };
    }
    let activity = std::sync::Arc::new(std::sync::Mutex::new(tokio::time::Instant::now()));
    let exit = std::sync::Mutex::new(None);
    let (failed_tx, mut failed_rx) = tokio::sync::watch::channel(None::<String>);
    let (cut_user, cut_agent) = (user_tx.clone(), agent_tx.clone());
    let inbound = Pump {
        from_agent: false,
        activity: &activity,
        taps,
        exit: &exit,
        failed: &failed_tx,
    };
    let outbound = Pump {
        from_agent: true,
        ..inbound
    };
    let pumps = async {
        tokio::join!(
            inbound.run(user_rx, agent_tx),
            outbound.run(agent_rx, user_tx)
        );
    };
    let revoked = async {
        let reason = ended
            .wait_for(|r| r.is_some())
            .await
            .map(|r| r.clone().unwrap_or_default());
        match reason {
            Ok(r) => (ErrorCode::Forbidden, format!("access revoked: {r}")),
            // The registry entry is gone: nobody can revoke this session any more.
            Err(_) => std::future::pending().await,
        }
    };
    let recording_failed = async {
        let reason = failed_rx
            .wait_for(|r| r.is_some())
            .await
            .map(|r| r.clone().unwrap_or_default());
        match reason {
            Ok(r) => r,
            Err(_) => std::future::pending().await,
        }
    };
    let limits = watchdog(settings, &activity);
    let exit_status = || *exit.lock().unwrap_or_else(|e| e.into_inner());
    let (code, reason) = tokio::select! {
        _ = pumps => {
            let status = exit_status();
            let exit = status.map(exit_text);
            let reason = match &exit {
                Some(s) => format!("exited ({s})"),
                None => "closed".into(),
            };
            return RelayEnd { reason, exit, exit_status: status, recording_failed: None };
        }
        r = revoked => r,
        r = limits => (ErrorCode::SessionLimit, r),
        r = recording_failed => (
            ErrorCode::RecordingUnavailable,
            format!("session ended: the recording failed ({r})"),
        ),
    };
    tracing::info!(%reason, "ending session");
    let _ = cut_user.error(code, &reason);
    cut_user.close();
    cut_agent.close();
    let failed = failed_tx.borrow().clone();
    let status = exit_status();
    RelayEnd {
        reason,
        exit: status.map(exit_text),
        exit_status: status,
        recording_failed: failed,
    }
}

/// Resolves with the reason once the session has been idle for the idle timeout or has run for
/// its maximum duration. It sleeps until the next deadline instead of ticking, so an idle
/// server with many sessions does not wake for nothing.
async fn watchdog(
    settings: &SessionSettings,
    activity: &std::sync::Mutex<tokio::time::Instant>,
) -> String {
    let started = tokio::time::Instant::now();
    let far = started + std::time::Duration::from_secs(100 * 365 * 24 * 3600);
    loop {
        let last = *activity.lock().unwrap_or_else(|e| e.into_inner());
        let idle_at = settings.idle_timeout.map_or(far, |t| last + t);
        let max_at = settings.max_duration.map_or(far, |t| started + t);
        let now = tokio::time::Instant::now();
        if now >= max_at {
            let d = settings.max_duration.unwrap_or_default();
            return format!(
                "the maximum session duration of {} was reached",
                humantime::format_duration(d)
            );
        }
        if now >= idle_at {
            let d = settings.idle_timeout.unwrap_or_default();
            return format!("idle for {} (idle timeout)", humantime::format_duration(d));
        }
        tokio::time::sleep_until(idle_at.min(max_at)).await;
    }
}

/// One direction of a relay.
#[derive(Clone, Copy)]
struct Pump<'a> {
    from_agent: bool,
    activity: &'a std::sync::Mutex<tokio::time::Instant>,
    taps: &'a Taps,
    exit: &'a std::sync::Mutex<Option<ExitStatus>>,
    failed: &'a tokio::sync::watch::Sender<Option<String>>,
}

impl Pump<'_> {
    async fn run(self, mut from: ChannelReceiver, to: ChannelSender) {
        while let Some(ev) = from.recv().await {
            if let Event::Data(_) | Event::ExtData(_) | Event::ZData(_) = ev {
                // Input and output both count as activity for the idle timeout.
                *self.activity.lock().unwrap_or_else(|e| e.into_inner()) =
                    tokio::time::Instant::now();
            }
            if let Err(e) = self.tap(&ev).await {
                // Fail closed: the relay ends the session and tells the user why. The
                // destination stays open so that message can still reach them.
                let _ = self.failed.send(Some(e.to_string()));
                return;
            }
            // Data from a cut channel does not wait for the other side's credit.
            let sent = match ev {
                Event::Data(d) => from.unless_cut(to.data(d)).await,
                Event::ExtData(d) if self.from_agent => from.unless_cut(to.ext_data(d)).await,
                Event::ZData(d)
                    if self.from_agent && self.taps.user_reads_zdata && to.fits_zdata(d.len()) =>
                {
                    from.unless_cut(to.zdata(d)).await
                }
                Event::ZData(d) if self.from_agent => match wicket_proto::zdata::decompress(&d) {
                    Ok(plain) => from.unless_cut(to.data(plain.into())).await,
                    Err(e) => to.error(ErrorCode::Protocol, &format!("the agent sent {e}")),
                },
                Event::Eof => to.eof(),
                Event::Resize { cols, rows } if !self.from_agent => to.resize(cols, rows),
                Event::Signal(s) if !self.from_agent => to.signal(s),
                Event::Exit(s) if self.from_agent => {
                    *self.exit.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
                    to.exit(s)
                }
                Event::Error { code, reason } => to.error(code, &reason),
                // Frames that make no sense in this direction are dropped, not relayed.
                _ => Ok(()),
            };
            if let Err(e) = sent {
                // The source was cut: tell the other side why, as its queued ERROR would have.
                if let MuxError::Cut(cut) = e {
                    let _ = to.error(cut.code, &cut.reason);
                }
                break;
            }
        }
        // The source closed (or failed): close the destination so the other side learns of it.
        to.close();
    }

    /// Records and counts an event, and shows output to watchers. Waits when the recording
    /// store is behind: that keeps a session's memory bounded, and what reaches the user
    /// ahead of the store to two recording chunks (fail closed).
    async fn tap(&self, ev: &Event) -> Result<(), wicket_recording::RecordingError> {
        let counters = &self.taps.counters;
        match ev {
            Event::Data(d) | Event::ExtData(d) if self.from_agent => {
                counters.output.fetch_add(d.len() as u64, Ordering::Relaxed);
                let _ = self.taps.watchers.send(d.clone());
                if let Some(r) = &self.taps.recorder {
                    r.output(d.clone()).await?;
                }
            }
            Event::ZData(z) if self.from_agent => {
                // Counted as the output it carries (as the agent declares it: only the byte
                // count rests on that), recorded as it came, inflated only for watchers.
                let size = wicket_proto::zdata::content_size(z)
                    .unwrap_or(z.len() as u64)
                    .min(wicket_proto::zdata::MAX_CONTENT as u64);
                counters.output.fetch_add(size, Ordering::Relaxed);
                if self.taps.watchers.receiver_count() > 0 {
                    let shown = match wicket_proto::zdata::decompress(z) {
                        Ok(d) => Bytes::from(d),
                        Err(e) => Bytes::from(format!("\r\n[wicket: {e}]\r\n")),
                    };
                    let _ = self.taps.watchers.send(shown);
                }
                if let Some(r) = &self.taps.recorder {
                    r.compressed_output(z.clone()).await?;
                }
            }
            Event::Data(d) if !self.from_agent => {
                counters.input.fetch_add(d.len() as u64, Ordering::Relaxed);
                if let Some(r) = &self.taps.recorder {
                    r.input(d.clone()).await?;
                }
            }
            Event::Resize { cols, rows } if !self.from_agent => {
                if let Some(r) = &self.taps.recorder {
                    r.resize(*cols, *rows).await?;
                }
            }
            // The user hears the session is over only once the store holds all it showed.
            Event::Exit(_) if self.from_agent => {
                if let Some(r) = &self.taps.recorder {
                    r.sync().await?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn exit_text(s: ExitStatus) -> String {
    match s {
        ExitStatus::Code(c) => format!("code {c}"),
        ExitStatus::Signal(n) => format!("signal {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wicket_mux::{mem_pair, Mux, MuxConfig, Role};
    use wicket_proto::zdata::Compressor;

    /// A channel pair over an in-memory link: what `opener` sends, the other end receives.
    async fn pair() -> (Channel, Channel, Mux, Mux) {
        let (a, b) = mem_pair();
        let (opener, _) = Mux::start(a, Role::Dialer, MuxConfig::default());
        let (acceptor, mut incoming) = Mux::start(b, Role::Acceptor, MuxConfig::default());
        let (opened, accepted) = tokio::join!(
            opener.open(OpenSpec::Session(SessionSpec::default())),
            async { incoming.recv().await.unwrap().accept().unwrap() }
        );
        (opened.unwrap(), accepted, opener, acceptor)
    }

    /// Relays what the agent sends to a user whose client did (or did not) ask for ZDATA, and
    /// returns the events the user received.
    async fn relayed(user_reads_zdata: bool, payload: Bytes) -> Vec<Event> {
        let (agent, from_agent, _m1, _m2) = pair().await;
        let (to_user, user, _m3, _m4) = pair().await;
        let (watchers, _) = tokio::sync::broadcast::channel(4);
        let taps = Taps {
            recorder: None,
            watchers,
            counters: Counters::default(),
            user_reads_zdata,
        };
        let activity = std::sync::Mutex::new(tokio::time::Instant::now());
        let exit = std::sync::Mutex::new(None);
        let (failed, _) = tokio::sync::watch::channel(None);
        let pump = Pump {
            from_agent: true,
            activity: &activity,
            taps: &taps,
            exit: &exit,
            failed: &failed,
        };
        let (agent_tx, _agent_rx) = agent.split();
        agent_tx.zdata(payload).await.unwrap();
        agent_tx.close();
        let (_, mut user_rx) = user.split();
        let (from_rx, to_tx) = (from_agent.split().1, to_user.split().0);
        pump.run(from_rx, to_tx).await;
        let mut got = Vec::new();
        while let Some(ev) = user_rx.recv().await {
            got.push(ev);
        }
        assert_eq!(taps.counters.output.load(Ordering::Relaxed), 8000);
        got
    }

    #[tokio::test]
    async fn compressed_output_passes_as_it_came_or_inflated_for_a_client_that_did_not_ask() {
        let text = b"output!\n".repeat(1000);
        let z = Bytes::from(Compressor::new().unwrap().compress(&text).unwrap());
        assert_eq!(relayed(true, z.clone()).await, [Event::ZData(z.clone())]);
        assert_eq!(relayed(false, z).await, [Event::Data(text.into())]);
    }
}

//! Sessions (`wicket connect`, a shell or a command): a `session` channel, checked against
//! the `connect` or `exec` policy action with `run_as` in the context, recorded from the first
//! byte, kept in the session history, and relayed until it exits or a limit ends it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::time::Instant;
use wicket_audit::Outcome;
use wicket_mux::{Channel, ChannelSender, Event, IncomingChannel};
use wicket_proto::{ErrorCode, ExitStatus, OpenSpec, SessionSpec, INPUT_ECHO_VERSION};
use wicket_recording::recorder::RecorderHandle;
use wicket_recording::SessionMeta;
use wicket_store::SessionRecord;

use crate::audit;
use crate::auth::Caller;
use crate::authz::{authorize, Action, Facts, Resource};
use crate::recordings::{self, Start};
use crate::sessions::LiveSession;
use crate::settings::{effective, SessionSettings};
use crate::state::AppState;

use super::access::current;
use super::hidden_input::{HeldInput, ToRecord};
use super::relay::{link_lost, relay, Ended, Kind, Relayed, Side, Stop, Tap};
use super::target::{find_target, online_agent, resolve_run_as};
use super::Refusal;

/// Checks a session request, opens it on the agent, and relays until both ends close or access
/// is taken away. The session is recorded from the first byte and kept in the history.
pub(super) async fn open(
    state: AppState,
    caller: Caller,
    request: IncomingChannel,
    spec: SessionSpec,
) {
    // A stopping server waits for the session's end to be on record.
    let _finishing = state.sessions().finishing();
    let brokered = match broker(&state, &caller, spec).await {
        Ok(b) => b,
        Err(refusal) => return refusal.reject(request, &caller, "session"),
    };
    let Brokered {
        agent_channel,
        live,
        settings,
        mut record,
        recording,
        compressed,
        input_echo,
        watch: _watch,
    } = brokered;
    let resource = format!("target:{}", record.target_name);
    // A command's output may be kept out of its recording by setting or policy; a shell's never.
    let output_recorded = live.action != Action::Exec || settings.record_exec_output != Some(false);
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
            "output_recorded": output_recorded,
            "via": caller.via.as_str(),
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
    let (recorder, handle) = match recording {
        Start::Recording(r) => {
            let h = r.handle();
            (Some(r), Some(h))
        }
        Start::Unrecorded => (None, None),
    };
    let guard = state.sessions().register_recorded(live, handle.clone());
    let tap = Recorded {
        recorder: handle,
        watchers: guard.output.clone(),
        input: AtomicU64::new(0),
        output: AtomicU64::new(0),
        user_reads_zdata: compressed,
        activity: Mutex::new(Instant::now()),
        exit: Mutex::new(None),
        banner: banner(&settings, record.tty),
        output_recorded,
        held_input: input_echo.then(HeldInput::default),
        target: record.target_name.clone(),
    };
    let relayed = relay(
        user_channel,
        agent_channel,
        guard.ended.clone(),
        watchdog(&settings, &tap.activity),
        &tap,
    )
    .await;
    drop(guard);
    // Input the agent never reported on is not shown; a failure here is the store's, which
    // `finish` reports.
    let _ = tap.record_unconfirmed_input().await;
    let outcome = ending(relayed, tap.exit_status(), &record.target_name);
    let (bytes_in, bytes_out) = (tap.input.into_inner(), tap.output.into_inner());
    drop(tap.recorder);
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
        bytes_in: bytes_in as i64,
        bytes_out: bytes_out as i64,
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
    /// The agent was asked to report how the terminal took each piece of input.
    input_echo: bool,
    /// A terminal session keeps the agent's link closely watched: a user waiting on a
    /// keystroke's echo hears within seconds that the agent stopped answering.
    watch: Option<wicket_mux::Watching>,
}

async fn broker(
    state: &AppState,
    caller: &Caller,
    mut spec: SessionSpec,
) -> Result<Brokered, Refusal> {
    let wanted = spec
        .target
        .take()
        .ok_or_else(|| Refusal::BadRequest("no target named in the request".into()))?;
    // The link may be hours old: judge this session by the user, token and groups of now.
    let caller = &current(state, caller).await?;
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
    let decision = authorize(state, caller, action, Resource::Target(&target), &facts).await?;
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
    // On a terminal, the agent says how it took each piece of input, so what is typed at a
    // password prompt stays out of the recording (`hidden_input`). Never the user's to set.
    spec.input_echo = spec.pty.is_some() && agent.version >= INPUT_ECHO_VERSION;
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
    let recording = recordings::start(state, meta, spec.pty.as_ref())
        .await
        .map_err(Refusal::RecordingUnavailable)?;
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
            Start::Unrecorded => "unrecorded".into(),
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
    let input_echo = spec.input_echo;
    let watch = spec.pty.is_some().then(|| agent.watch_closely());
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
            return Err(Refusal::agent(&target.name, e));
        }
    };
    Ok(Brokered {
        agent_channel,
        live,
        settings,
        record,
        recording,
        compressed,
        input_echo,
        watch,
    })
}

/// A session's tap: the recorder, live watchers, byte counts, activity for the idle
/// timeout, and the exit status.
struct Recorded {
    recorder: Option<RecorderHandle>,
    watchers: tokio::sync::broadcast::Sender<Bytes>,
    /// Bytes the user sent to the session.
    input: AtomicU64,
    /// Bytes the session sent to the user.
    output: AtomicU64,
    /// The user's client asked for `ZDATA`; an agent that sends it unasked (or a payload too
    /// large for the client's window) is inflated for the client, never passed to one that
    /// cannot decode it.
    user_reads_zdata: bool,
    /// The last input or output, for the idle timeout.
    activity: Mutex<Instant>,
    exit: Mutex<Option<ExitStatus>>,
    /// Shown to the user (and recorded) before the session's own output.
    banner: Option<(Bytes, bool)>,
    /// False when the settings keep this command's output out of its recording.
    output_recorded: bool,
    /// Input waiting for the agent to say whether the terminal showed it; `None` when the
    /// agent does not say (no terminal, or an agent older than version 5): input is then
    /// recorded as it comes.
    held_input: Option<HeldInput>,
    /// The target's name, for what the user is told if its agent goes away.
    target: String,
}

impl Recorded {
    fn exit_status(&self) -> Option<ExitStatus> {
        *self.exit.lock().unwrap_or_else(|e| e.into_inner())
    }

    // The input side: what the user typed, as the agent's reports let it be shown.

    /// Input the user sent: recorded now, or held for the agent's report on it.
    async fn record_input(&self, d: &Bytes) -> Result<(), wicket_recording::RecordingError> {
        match &self.held_input {
            Some(held) => self.record_held(held.hold(d.clone())).await,
            None => match &self.recorder {
                Some(r) => r.input(d.clone()).await,
                None => Ok(()),
            },
        }
    }

    /// The agent wrote `len` more bytes of input; `echo`: the terminal showed them.
    async fn input_reported(
        &self,
        len: u32,
        echo: bool,
    ) -> Result<(), wicket_recording::RecordingError> {
        match &self.held_input {
            Some(held) => self.record_held(held.confirm(len, echo)).await,
            None => Ok(()),
        }
    }

    /// Input still held (never reported on) becomes a marker.
    async fn record_unconfirmed_input(&self) -> Result<(), wicket_recording::RecordingError> {
        match &self.held_input {
            Some(held) => self.record_held(held.rest()).await,
            None => Ok(()),
        }
    }

    async fn record_held(
        &self,
        what: Vec<ToRecord>,
    ) -> Result<(), wicket_recording::RecordingError> {
        let Some(r) = &self.recorder else {
            return Ok(());
        };
        for w in what {
            match w {
                ToRecord::Input(d) => r.input(d).await?,
                ToRecord::Marker(label) => r.marker(label).await?,
            }
        }
        Ok(())
    }

    /// Records and counts an event, and shows output to watchers. Waits when the recording
    /// store is behind: that keeps a session's memory bounded, and what reaches the user
    /// ahead of the store to two recording chunks (fail closed).
    async fn tap(&self, from: Side, ev: &Event) -> Result<(), wicket_recording::RecordingError> {
        match (from, ev) {
            (Side::Agent, Event::Data(d) | Event::ExtData(d)) => {
                self.output.fetch_add(d.len() as u64, Ordering::Relaxed);
                let _ = self.watchers.send(d.clone());
                if let Some(r) = self.recorder.as_ref().filter(|_| self.output_recorded) {
                    r.output(d.clone()).await?;
                }
            }
            (Side::Agent, Event::ZData(z)) => {
                // Counted as the output it carries (as the agent declares it: only the byte
                // count rests on that), recorded as it came, inflated only for watchers.
                let size = wicket_proto::zdata::content_size(z)
                    .unwrap_or(z.len() as u64)
                    .min(wicket_proto::zdata::MAX_CONTENT as u64);
                self.output.fetch_add(size, Ordering::Relaxed);
                if self.watchers.receiver_count() > 0 {
                    let shown = match wicket_proto::zdata::decompress(z) {
                        Ok(d) => Bytes::from(d),
                        Err(e) => Bytes::from(format!("\r\n[wicket: {e}]\r\n")),
                    };
                    let _ = self.watchers.send(shown);
                }
                if let Some(r) = self.recorder.as_ref().filter(|_| self.output_recorded) {
                    r.compressed_output(z.clone()).await?;
                }
            }
            (Side::User, Event::Data(d)) => {
                self.input.fetch_add(d.len() as u64, Ordering::Relaxed);
                self.record_input(d).await?;
            }
            (Side::Agent, Event::InputEcho { len, echo }) => {
                self.input_reported(*len, *echo).await?;
            }
            (Side::User, Event::Resize { cols, rows }) => {
                if let Some(r) = &self.recorder {
                    r.resize(*cols, *rows).await?;
                }
            }
            // The user hears the session is over only once the store holds all it showed.
            (Side::Agent, Event::Exit(s)) => {
                *self.exit.lock().unwrap_or_else(|e| e.into_inner()) = Some(*s);
                self.record_unconfirmed_input().await?;
                if let Some(r) = &self.recorder {
                    r.sync().await?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl Tap for Recorded {
    const KIND: Kind = Kind::Session;

    async fn opening(&self, user: &ChannelSender) {
        if let Some(r) = self.recorder.as_ref().filter(|_| !self.output_recorded) {
            let _ = r
                .marker("output not recorded: record_exec_output is false for this command")
                .await;
        }
        let Some((bytes, pty)) = self.banner.clone() else {
            return;
        };
        if let Some(r) = &self.recorder {
            let _ = r.output(bytes.clone()).await;
        }
        let _ = if pty {
            user.data(bytes).await
        } else {
            user.ext_data(bytes).await
        };
    }

    async fn event(&self, from: Side, ev: &Event) -> Result<(), Stop> {
        if let Event::Data(_) | Event::ExtData(_) | Event::ZData(_) = ev {
            // Input and output both count as activity for the idle timeout.
            *self.activity.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        }
        self.tap(from, ev).await.map_err(|e| Stop {
            code: ErrorCode::RecordingUnavailable,
            reason: format!("session ended: the recording failed ({e})"),
        })
    }

    fn user_reads_zdata(&self) -> bool {
        self.user_reads_zdata
    }

    fn target(&self) -> Option<&str> {
        Some(&self.target)
    }
}

/// The configured banner as the session shows it: with CRLF on a terminal, on stderr
/// without one.
fn banner(settings: &SessionSettings, pty: bool) -> Option<(Bytes, bool)> {
    let banner = settings.banner.as_deref().filter(|b| !b.is_empty())?;
    let text = if pty {
        format!("{}\r\n", banner.replace('\n', "\r\n"))
    } else {
        format!("{banner}\n")
    };
    Some((Bytes::from(text), pty))
}

/// How a session ended.
struct SessionEnd {
    reason: String,
    /// The exit status in words, for the session history.
    exit: Option<String>,
    exit_status: Option<ExitStatus>,
    /// Set when the recording failed, which ended the session (fail-closed).
    recording_failed: Option<String>,
}

/// How the session ended, in the words its user was told: the server's reason when it stopped
/// it, else the side that ended first (an agent that went away, a user who disconnected), else
/// the exit status.
fn ending(relayed: Relayed, exit_status: Option<ExitStatus>, target: &str) -> SessionEnd {
    let exit = exit_status.map(exit_text);
    let first = match relayed.first {
        Some(Side::User) => relayed.user.as_ref().map(|e| (Side::User, e)),
        Some(Side::Agent) => relayed.agent.as_ref().map(|e| (Side::Agent, e)),
        None => None,
    };
    let reason = match (&relayed.stopped, first, &exit) {
        (Some(stop), _, _) => stop.reason.clone(),
        (None, Some((side, Ended::LinkLost(why))), _) => link_lost(side, why, Some(target)),
        (None, Some((Side::Agent, Ended::Failed(r))), None) => r.clone(),
        (None, Some((Side::User, Ended::Closed | Ended::Failed(_))), _) => {
            "the user disconnected".into()
        }
        (None, _, Some(s)) => format!("exited ({s})"),
        (None, _, None) => "closed".into(),
    };
    SessionEnd {
        reason,
        exit,
        exit_status,
        recording_failed: relayed.tap_failed.map(|s| s.reason),
    }
}

/// Resolves with the reason once the session has been idle for the idle timeout or has run for
/// its maximum duration. It sleeps until the next deadline instead of ticking, so an idle
/// server with many sessions does not wake for nothing.
async fn watchdog(settings: &SessionSettings, activity: &Mutex<Instant>) -> Stop {
    let started = Instant::now();
    let far = started + std::time::Duration::from_secs(100 * 365 * 24 * 3600);
    loop {
        let last = *activity.lock().unwrap_or_else(|e| e.into_inner());
        let idle_at = settings.idle_timeout.map_or(far, |t| last + t);
        let max_at = settings.max_duration.map_or(far, |t| started + t);
        let now = Instant::now();
        if now >= max_at {
            let d = settings.max_duration.unwrap_or_default();
            return Stop {
                code: ErrorCode::SessionLimit,
                reason: format!(
                    "the maximum session duration of {} was reached",
                    humantime::format_duration(d)
                ),
            };
        }
        if now >= idle_at {
            let d = settings.idle_timeout.unwrap_or_default();
            return Stop {
                code: ErrorCode::SessionLimit,
                reason: format!("idle for {} (idle timeout)", humantime::format_duration(d)),
            };
        }
        tokio::time::sleep_until(idle_at.min(max_at)).await;
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
    use wicket_mux::{LinkCause, LinkClosed};

    fn relayed(first: Side, user: Option<Ended>, agent: Option<Ended>) -> Relayed {
        Relayed {
            stopped: None,
            agent,
            user,
            first: Some(first),
            tap_failed: None,
        }
    }

    fn lost(cause: LinkCause) -> Ended {
        Ended::LinkLost(LinkClosed {
            code: None,
            reason: "peer closed connection without sending TLS close_notify: https://docs.rs/x"
                .into(),
            cause,
        })
    }

    #[test]
    fn a_session_ends_with_what_its_user_was_told() {
        let reason = |r: Relayed, exit| ending(r, exit, "web-1").reason;
        let exited = Some(ExitStatus::Code(0));
        assert_eq!(
            reason(
                relayed(Side::Agent, None, Some(lost(LinkCause::Lost))),
                None
            ),
            "the agent on web-1 went away"
        );
        assert_eq!(
            reason(
                relayed(Side::Agent, None, Some(lost(LinkCause::Silent))),
                None
            ),
            "the agent on web-1 stopped answering"
        );
        // The user left first (`~.`): the agent then hung up the shell, which is the exit.
        let left = ending(
            relayed(Side::User, Some(Ended::Closed), Some(Ended::Closed)),
            Some(ExitStatus::Signal(1)),
            "web-1",
        );
        assert_eq!(
            (left.reason.as_str(), left.exit.as_deref()),
            ("the user disconnected", Some("signal 1"))
        );
        assert_eq!(
            reason(relayed(Side::User, Some(lost(LinkCause::Lost)), None), None),
            "the connection to the user was lost"
        );
        assert_eq!(
            reason(
                relayed(Side::Agent, Some(Ended::Closed), Some(Ended::Closed)),
                exited
            ),
            "exited (code 0)"
        );
        // The server's own reason comes first.
        let mut stopped = relayed(Side::Agent, None, Some(lost(LinkCause::Lost)));
        stopped.stopped = Some(Stop {
            code: ErrorCode::Shutdown,
            reason: "wicketd is shutting down".into(),
        });
        assert_eq!(reason(stopped, None), "wicketd is shutting down");
    }
}

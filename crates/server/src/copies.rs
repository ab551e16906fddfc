//! File copies (`wicket cp`): a `copy` channel on a user's link, checked against the `copy`
//! policy action with `run_as` in the context, opened on the target's agent (protocol version 3
//! or later) and relayed. The agent runs the file IO as the run-as user.
//!
//! The server does not trust either end's account of a copy: it decodes the records going
//! through (`wicket_proto::copy`, headers only; content is only counted) to learn the files,
//! sizes and SHA-256s, and the receiver's verdict. Each copy is registered in the
//! [`crate::sessions::SessionRegistry`] so a revocation ends it, and ends in one `copy.file`
//! audit event.

use std::time::{Duration, Instant};

use wicket_audit::Outcome;
use wicket_mux::{Channel, ChannelReceiver, ChannelSender, Event, IncomingChannel, MuxError};
use wicket_proto::copy::{Decoder, Item};
use wicket_proto::{CopySpec, Direction, ErrorCode, OpenSpec};

use crate::auth::Caller;
use crate::authz::{authorize, Action, Facts, Resource};
use crate::client_link::find_target;
use crate::forwards::current;
use crate::sessions::LiveSession;
use crate::state::AppState;

/// What the records going through said.
#[derive(Default)]
struct Seen {
    files: u64,
    dirs: u64,
    bytes: u64,
    /// `(path, size, sha256)` of the first files (at most [`MAX_LISTED`]).
    listed: Vec<serde_json::Value>,
    /// The receiver's verdict: `Ok(())`, or its error.
    verdict: Option<Result<(), String>>,
    /// The stream could not be decoded.
    garbled: Option<String>,
    current: Option<(String, u64)>,
}

/// Files named individually in a `copy.file` event.
const MAX_LISTED: usize = 100;

impl Seen {
    fn feed(&mut self, dec: &mut Decoder, data: &[u8]) {
        if self.garbled.is_some() {
            return;
        }
        dec.feed(data);
        loop {
            match dec.next_item() {
                Ok(None) => return,
                Ok(Some(item)) => match item {
                    Item::Dir(_) => self.dirs += 1,
                    Item::File(e, size) => self.current = Some((e.path, size)),
                    Item::Data(d) => self.bytes += d.len() as u64,
                    Item::Sum(s) => {
                        self.files += 1;
                        if let Some((path, size)) = self.current.take() {
                            if self.listed.len() < MAX_LISTED {
                                self.listed.push(serde_json::json!({
                                    "path": path, "size": size, "sha256": hex::encode(s),
                                }));
                            }
                        }
                    }
                    Item::End => {}
                    Item::Ok => self.verdict = Some(Ok(())),
                    Item::Error(r) => self.verdict = Some(Err(r)),
                },
                Err(e) => {
                    self.garbled = Some(e.to_string());
                    return;
                }
            }
        }
    }
}

/// Checks a copy request, opens it on the agent, relays until both ends close or access is
/// taken away, and records the outcome.
pub async fn open_copy(state: AppState, caller: Caller, request: IncomingChannel, spec: CopySpec) {
    let started = Instant::now();
    let id = format!("cp_{}", hex::encode(crate::secrets::random_bytes::<8>()));
    let target = spec.target.clone().unwrap_or_default();
    let mut details = serde_json::json!({
        "copy_id": id,
        "direction": spec.direction.as_str(),
        "remote_path": spec.path,
        "local_path": spec.local_path,
        "recursive": spec.recursive,
    });
    let (outcome, end, reason, seen) = match broker(&state, &caller, spec.clone(), &id).await {
        Err((code, reason)) => {
            request.reject(code, &reason);
            let o = if code == ErrorCode::Forbidden {
                Outcome::Denied
            } else {
                Outcome::Failure
            };
            (o, "refused", reason, Seen::default())
        }
        Ok((agent_channel, live, run_as)) => {
            details["run_as"] = run_as.into();
            match request.accept() {
                Err(e) => {
                    agent_channel.split().0.close();
                    (
                        Outcome::Failure,
                        "failed",
                        format!("user left: {e}"),
                        Seen::default(),
                    )
                }
                Ok(user_channel) => {
                    let guard = state.sessions().register(live);
                    let (seen, revoked, error) =
                        relay(user_channel, agent_channel, guard.ended.clone()).await;
                    match (revoked, &seen.verdict, error) {
                        (Some(r), _, _) => (Outcome::Failure, "revoked", r, seen),
                        (None, Some(Ok(())), _) => {
                            (Outcome::Success, "copied", String::new(), seen)
                        }
                        (None, Some(Err(r)), _) => {
                            let r = r.clone();
                            (Outcome::Failure, "failed", r, seen)
                        }
                        (None, None, e) => (
                            Outcome::Failure,
                            "failed",
                            e.or(seen.garbled.clone()).unwrap_or_else(|| {
                                "interrupted before the receiver confirmed".into()
                            }),
                            seen,
                        ),
                    }
                }
            }
        }
    };
    let duration: Duration = started.elapsed();
    details["files"] = seen.files.into();
    details["dirs"] = seen.dirs.into();
    details["bytes"] = seen.bytes.into();
    details["entries"] = seen.listed.clone().into();
    if let (1, Some(first)) = (seen.files, seen.listed.first()) {
        details["sha256"] = first["sha256"].clone();
        details["size"] = first["size"].clone();
    }
    details["duration_ms"] = (duration.as_millis() as u64).into();
    details["end"] = end.into();
    details["reason"] = reason.clone().into();
    tracing::info!(
        copy = %id,
        user = %caller.user.name,
        %target,
        files = seen.files,
        bytes = seen.bytes,
        end,
        %reason,
        "file copy"
    );
    state
        .audit()
        .record(crate::audit::event(
            &caller.user.name,
            caller.source_ip,
            "copy.file",
            &format!("target:{target}"),
            outcome,
            details,
        ))
        .await;
}

async fn broker(
    state: &AppState,
    caller: &Caller,
    mut spec: CopySpec,
    id: &str,
) -> Result<(Channel, LiveSession, Option<String>), (ErrorCode, String)> {
    let wanted = spec.target.take().ok_or((
        ErrorCode::UnknownTarget,
        "no target named in the request".into(),
    ))?;
    let caller = &current(state, caller).await?;
    let target = find_target(state, &wanted).await?;
    if spec.path.is_empty() || spec.path.contains('\0') {
        return Err((ErrorCode::Protocol, "bad path".into()));
    }
    if spec.run_as.is_none() {
        spec.run_as = state.config().default_run_as.clone();
    }
    let facts = Facts {
        run_as: spec.run_as.clone(),
        ..Facts::default()
    };
    authorize(
        state,
        caller,
        Action::Copy,
        Resource::Target(&target),
        &facts,
    )
    .await
    .map_err(|_| {
        (
            ErrorCode::Forbidden,
            format!(
                "{} may not copy files {} target {}{}: no policy permits it",
                caller.user.name,
                match spec.direction {
                    Direction::Upload => "to",
                    Direction::Download => "from",
                },
                target.name,
                spec.run_as
                    .as_deref()
                    .map(|u| format!(" as {u}"))
                    .unwrap_or_default()
            ),
        )
    })?;
    let agent = crate::client_link::online_agent(
        state,
        &target,
        OpenSpec::Copy(spec.clone()).min_version(),
        "file copy",
    )?;
    spec.user = Some(caller.user.name.clone());
    spec.copy_id = Some(id.to_string());
    let run_as = spec.run_as.clone();
    let live = LiveSession {
        id: id.to_string(),
        user_id: caller.user.id.clone(),
        token_id: caller.token_id.clone(),
        target_id: target.id.clone(),
        action: Action::Copy,
        run_as: run_as.clone(),
        source_ip: caller.source_ip,
        dest: None,
    };
    let channel = agent
        .open(&caller.user.id, &target.name, OpenSpec::Copy(spec))
        .await
        .map_err(|e| crate::client_link::open_failed(&target.name, e))?;
    Ok((channel, live, run_as))
}

/// Relays both ways, decoding the records: the sender's stream one way, the receiver's
/// verdict the other. Returns what was seen, the revocation reason if access was taken away,
/// and a channel error if one ended the copy.
async fn relay(
    user: Channel,
    agent: Channel,
    mut ended: tokio::sync::watch::Receiver<Option<String>>,
) -> (Seen, Option<String>, Option<String>) {
    let (user_tx, user_rx) = user.split();
    let (agent_tx, agent_rx) = agent.split();
    let (cut_user, cut_agent) = (user_tx.clone(), agent_tx.clone());
    let mut seen = Seen::default();
    let mut error = None;
    let revoked = {
        let seen = std::sync::Mutex::new(&mut seen);
        let error = std::sync::Mutex::new(&mut error);
        let (mut up, mut down) = (Decoder::new(), Decoder::new());
        let pumps = async {
            tokio::join!(
                pump(
                    user_rx,
                    agent_tx,
                    false,
                    |d| {
                        let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                        s.feed(&mut up, d)
                    },
                    &error
                ),
                pump(
                    agent_rx,
                    user_tx,
                    true,
                    |d| {
                        let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                        s.feed(&mut down, d)
                    },
                    &error
                ),
            );
        };
        let revoked = async {
            let reason = ended
                .wait_for(|r| r.is_some())
                .await
                .map(|r| r.clone().unwrap_or_default());
            match reason {
                Ok(r) => format!("access revoked: {r}"),
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = pumps => None,
            r = revoked => Some(r),
        }
    };
    if let Some(reason) = &revoked {
        let _ = cut_user.error(ErrorCode::Forbidden, reason);
        cut_user.close();
        cut_agent.close();
    }
    (seen, revoked, error)
}

async fn pump(
    mut from: ChannelReceiver,
    to: ChannelSender,
    from_agent: bool,
    mut observe: impl FnMut(&[u8]),
    error: &std::sync::Mutex<&mut Option<String>>,
) {
    while let Some(ev) = from.recv().await {
        let sent = match ev {
            Event::Data(d) => {
                observe(&d);
                from.unless_cut(to.data(d)).await
            }
            Event::ExtData(d) if from_agent => from.unless_cut(to.ext_data(d)).await,
            Event::Exit(s) if from_agent => to.exit(s),
            Event::Eof => to.eof(),
            Event::Error { code, reason } => {
                let mut e = error.lock().unwrap_or_else(|p| p.into_inner());
                e.get_or_insert_with(|| reason.clone());
                to.error(code, &reason)
            }
            _ => Ok(()),
        };
        if let Err(e) = sent {
            // The source was cut: tell the other side why, as its queued ERROR would have.
            if let MuxError::Cut(cut) = e {
                let mut e = error.lock().unwrap_or_else(|p| p.into_inner());
                e.get_or_insert_with(|| cut.reason.clone());
                let _ = to.error(cut.code, &cut.reason);
            }
            break;
        }
    }
    to.close();
}

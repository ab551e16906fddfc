//! File copies (`wicket cp`): a `copy` channel on a user's link, checked against the `copy`
//! policy action with `run_as` in the context, opened on the target's agent (protocol version 3
//! or later) and relayed. The agent runs the file IO as the run-as user.
//!
//! The server does not trust either end's account of a copy: it decodes the records going
//! through (`wicket_proto::copy`, headers only; content is only counted) to learn the files,
//! sizes and SHA-256s, and the receiver's verdict. Each copy is registered in the
//! [`crate::sessions::SessionRegistry`] so a revocation ends it, and ends in one `copy.file`
//! audit event.
//!
//! The verdict of a download comes from the user, after the agent's helper has sent everything
//! and exited: so when the agent's side ends, the relay half-closes the user's channel (`EOF`)
//! and waits for the user's verdict and close; only a failed agent side closes it outright.

use std::time::{Duration, Instant};

use wicket_audit::Outcome;
use wicket_mux::{Channel, ChannelReceiver, ChannelSender, Event, IncomingChannel, MuxError};
use wicket_proto::copy::{Decoder, Item};
use wicket_proto::{CopySpec, ErrorCode, OpenSpec};

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
    /// Why the user's side ended, when it ended before any verdict.
    user_quit: Option<&'static str>,
}

/// The reason of a copy whose user's link was lost before the copy finished (a killed or
/// disconnected `wicket cp`).
const USER_LINK_CLOSED: &str = "the user's link closed before the copy finished";
/// The reason of a copy whose user closed the channel before the copy finished (Ctrl-C).
const USER_CLOSED: &str = "the user closed the copy before it finished";

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
                    let (outcome, end, reason) = conclude(&seen, revoked, error);
                    (outcome, end, reason, seen)
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

/// The outcome, `end` and reason of a copy that was relayed. A receiver's `OK` is success
/// even when it came after the user left (an upload sent in full); a user gone before any
/// verdict is the reason, not the errors that followed from it on the target.
fn conclude(
    seen: &Seen,
    revoked: Option<String>,
    error: Option<String>,
) -> (Outcome, &'static str, String) {
    if let Some(r) = revoked {
        return (Outcome::Failure, "revoked", r);
    }
    let reason = match (&seen.verdict, seen.user_quit) {
        (Some(Ok(())), _) => return (Outcome::Success, "copied", String::new()),
        (_, Some(quit)) => quit.to_string(),
        (Some(Err(r)), None) => r.clone(),
        (None, None) => error
            .or(seen.garbled.clone())
            .unwrap_or_else(|| "interrupted before the receiver confirmed".into()),
    };
    (Outcome::Failure, "failed", reason)
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
    spec.run_as = Some(crate::client_link::resolve_run_as(
        state,
        &target,
        spec.run_as.take(),
    )?);
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
    .map_err(crate::authz::channel_refusal)?;
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
/// and the agent's channel error if one ended the copy.
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
        let (mut up, mut down) = (Decoder::new(), Decoder::new());
        let user_side = async {
            let end = pump(user_rx, &agent_tx, false, |d| {
                let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                s.feed(&mut up, d)
            })
            .await;
            let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
            if s.verdict.is_none() {
                s.user_quit = match end {
                    Ended::Failed(_) => Some(USER_LINK_CLOSED),
                    Ended::Closed => Some(USER_CLOSED),
                    Ended::Cut => None,
                };
            }
            drop(s);
            // The user is gone, or the agent is: either way the helper's input ends, and it
            // removes the file it was writing.
            agent_tx.close();
        };
        let agent_side = async {
            let end = pump(agent_rx, &user_tx, true, |d| {
                let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                s.feed(&mut down, d)
            })
            .await;
            match end {
                // The helper is done: what the user still has to say (a download's verdict)
                // comes after this.
                Ended::Closed => {
                    let _ = user_tx.eof();
                }
                Ended::Failed(reason) => {
                    error = Some(reason);
                    user_tx.close();
                }
                Ended::Cut => user_tx.close(),
            }
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
            _ = async { tokio::join!(user_side, agent_side) } => None,
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

/// How one side's half of a copy ended.
enum Ended {
    /// The side closed its channel.
    Closed,
    /// The side sent an `ERROR`, or its link was lost (the mux reports that as an error).
    Failed(String),
    /// The other side's channel is closed: nothing more can be passed on.
    Cut,
}

/// Passes one side's events to the other until the side ends; the caller decides what that
/// means for the other side's channel.
async fn pump(
    mut from: ChannelReceiver,
    to: &ChannelSender,
    from_agent: bool,
    mut observe: impl FnMut(&[u8]),
) -> Ended {
    let mut failed = None;
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
                let sent = to.error(code, &reason);
                failed.get_or_insert(reason);
                sent
            }
            _ => Ok(()),
        };
        if let Err(e) = sent {
            // Cut while passing data on (its link went, or it failed): tell the other side
            // why, as its queued ERROR would have, and end as failed.
            if let MuxError::Cut(cut) = e {
                let _ = to.error(cut.code, &cut.reason);
                return Ended::Failed(cut.reason);
            }
            return Ended::Cut;
        }
    }
    match failed {
        Some(reason) => Ended::Failed(reason),
        None => Ended::Closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(verdict: Option<Result<(), String>>, user_quit: Option<&'static str>) -> Seen {
        Seen {
            verdict,
            user_quit,
            ..Seen::default()
        }
    }

    #[test]
    fn the_first_cause_is_the_reason() {
        // An upload sent in full whose user left before the verdict: the file is there.
        let (o, end, _) = conclude(&seen(Some(Ok(())), Some(USER_LINK_CLOSED)), None, None);
        assert_eq!((o, end), (Outcome::Success, "copied"));
        // The user left first: the helper's complaint about its cut input is a consequence.
        let s = seen(
            Some(Err("the copy stream ended early".into())),
            Some(USER_LINK_CLOSED),
        );
        let (o, end, reason) = conclude(&s, None, Some("link lost".into()));
        assert_eq!(
            (o, end, reason.as_str()),
            (Outcome::Failure, "failed", USER_LINK_CLOSED)
        );
        // A receiver that refused before the user went away is the reason.
        let s = seen(Some(Err("cannot write in /srv".into())), None);
        assert_eq!(conclude(&s, None, None).2, "cannot write in /srv");
        // The agent's side failed without a verdict.
        let (_, _, reason) = conclude(&seen(None, None), None, Some("link lost: x".into()));
        assert_eq!(reason, "link lost: x");
        let (_, end, _) = conclude(
            &seen(Some(Ok(())), None),
            Some("access revoked".into()),
            None,
        );
        assert_eq!(end, "revoked");
    }
}

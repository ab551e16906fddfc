//! File copies (`wicket cp`): a `copy` channel, checked against the `copy`
//! policy action with `run_as` in the context, opened on the target's agent (protocol version 3
//! or later) and relayed. The agent runs the file IO as the run-as user.
//!
//! The server does not trust either end's account of a copy: it decodes the records going
//! through (`wicket_proto::copy`, headers only; content is only counted) to learn the files,
//! sizes and SHA-256s, and the receiver's verdict. Each copy ends in one `copy.file` audit event.
//!
//! The verdict of a download comes from the user, after the agent's helper has sent everything
//! and exited: so when the agent's side ends, the relay half-closes the user's channel (`EOF`)
//! and waits for the user's verdict and close; only a failed agent side closes it outright.
//!
//! A user who cancels (Ctrl-C) sends `SIGNAL INT`, passed to the helper, which stops; the
//! event then says `cancelled`, unless the receiver's verdict says everything was in place
//! first.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use wicket_audit::Outcome;
use wicket_mux::{Channel, Event, IncomingChannel};
use wicket_proto::copy::{Decoder, Item};
use wicket_proto::{CopySpec, OpenSpec};

use crate::auth::Caller;
use crate::authz::{authorize, Action, Facts, Resource};
use crate::sessions::LiveSession;
use crate::state::AppState;

use super::access::current;
use super::relay::{relay_live, Ended, Kind, Side, Stop, Tap};
use super::target::{find_target, online_agent, resolve_run_as};
use super::Refusal;

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
    /// The user cancelled the copy (Ctrl-C: a `SIGNAL` on the channel).
    cancelled: bool,
}

/// The reason of a copy whose user's link was lost before the copy finished (a killed or
/// disconnected `wicket cp`).
const USER_LINK_CLOSED: &str = "the user's link closed before the copy finished";
/// The reason of a copy whose user closed the channel before the copy finished (Ctrl-C).
const USER_CLOSED: &str = "the user closed the copy before it finished";

/// The reason of a copy the user cancelled before the receiver had everything in place.
const USER_CANCELLED: &str = "cancelled by the user";

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
pub(super) async fn open(
    state: AppState,
    caller: Caller,
    request: IncomingChannel,
    spec: CopySpec,
) {
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
        Err(refusal) => {
            let o = match refusal {
                Refusal::Denied(_) => Outcome::Denied,
                _ => Outcome::Failure,
            };
            let reason = refusal.to_string();
            refusal.reject(request, &caller, "copy");
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
                    let tap = Decoded::default();
                    let relayed = relay_live(&state, live, user_channel, agent_channel, &tap).await;
                    let error = relayed.agent.as_ref().and_then(Ended::reason);
                    let revoked = relayed.stopped.map(|s| s.reason);
                    let seen = tap.seen.into_inner().unwrap_or_else(|e| e.into_inner());
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
/// even when it came after the user left (an upload sent in full) or cancelled (everything was
/// in place before the cancel arrived); a user gone or cancelling before any verdict is the
/// reason, not the errors that followed from it on the target.
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
        _ if seen.cancelled => return (Outcome::Failure, "cancelled", USER_CANCELLED.into()),
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
) -> Result<(Channel, LiveSession, Option<String>), Refusal> {
    let wanted = spec
        .target
        .take()
        .ok_or_else(|| Refusal::BadRequest("no target named in the request".into()))?;
    let caller = &current(state, caller).await?;
    let target = find_target(state, &wanted).await?;
    if spec.path.is_empty() || spec.path.contains('\0') {
        return Err(Refusal::BadRequest("bad path".into()));
    }
    spec.run_as = Some(resolve_run_as(state, &target, spec.run_as.take())?);
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
    .await?;
    let needed = OpenSpec::Copy(spec.clone()).min_version();
    let agent = online_agent(state, &target, needed, "file copy")?;
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
        .map_err(|e| Refusal::agent(&target.name, e))?;
    Ok((channel, live, run_as))
}

/// A copy's tap: decodes the records each way (the sender's stream one way, the receiver's
/// verdict the other), and notes why the user's side ended if it ended before any verdict.
#[derive(Default)]
struct Decoded {
    seen: Mutex<Seen>,
    /// The user's records (an upload's files, a download's verdict).
    up: Mutex<Decoder>,
    /// The agent's records (a download's files, an upload's verdict).
    down: Mutex<Decoder>,
}

impl Tap for Decoded {
    const KIND: Kind = Kind::Copy;

    async fn event(&self, from: Side, ev: &Event) -> Result<(), Stop> {
        if let (Side::User, Event::Signal(_)) = (from, ev) {
            self.seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .cancelled = true;
        }
        if let Event::Data(d) = ev {
            let decoder = match from {
                Side::User => &self.up,
                Side::Agent => &self.down,
            };
            let mut decoder = decoder.lock().unwrap_or_else(|e| e.into_inner());
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.feed(&mut decoder, d);
        }
        Ok(())
    }

    fn ended(&self, side: Side, how: &Ended) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if side == Side::User && seen.verdict.is_none() {
            seen.user_quit = match how {
                Ended::Failed(_) | Ended::LinkLost(_) => Some(USER_LINK_CLOSED),
                Ended::Closed => Some(USER_CLOSED),
                Ended::Cut => None,
            };
        }
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
        // Cancelled: whatever the receiver then said about its cut stream, unless it had
        // everything in place first.
        let mut s = seen(Some(Err("the copy was cancelled".into())), None);
        s.cancelled = true;
        assert_eq!(
            conclude(&s, None, None),
            (Outcome::Failure, "cancelled", USER_CANCELLED.into())
        );
        s.verdict = Some(Ok(()));
        assert_eq!(conclude(&s, None, None).1, "copied");
    }
}

//! Forwarded TCP connections (`wicket forward`, `wicket proxy`): a `tcp` channel, checked
//! against the `forward` policy action with the destination in the context, opened on the
//! target's agent (protocol version 2 or later) and relayed.
//!
//! Each connection, refused or not, ends in one [`ForwardRecord`], logged and appended to the
//! audit chain when it is done.
//!
//! A request with `check` set (version 5, `wicket forward` before it listens) takes exactly the
//! same steps up to the agent ([`admit`]) and is answered there: what the policy decides on is
//! what a connection to that destination then gets.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wicket_audit::Outcome;
use wicket_mux::{Channel, Event, IncomingChannel};
use wicket_proto::{ErrorCode, OpenSpec, TcpSpec};

use crate::auth::Caller;
use crate::authz::{authorize, Action, Facts, Resource};
use crate::limits::host_port;
use crate::registry::AgentConn;
use crate::sessions::LiveSession;
use crate::state::AppState;

use super::access::current;
use super::relay::{relay_live, Ended, Kind, Side, Tap};
use super::target::{find_target, online_agent};
use super::Refusal;

/// What happened to one forwarded connection.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ForwardOutcome {
    /// Both directions ended normally.
    Closed,
    /// Refused before any byte moved: policy, unknown or offline target, old agent, or the
    /// agent could not (or would not) connect to the destination.
    Refused { code: ErrorCode, reason: String },
    /// Failed midway (a reset, a lost link).
    Failed(String),
    /// Ended because access was taken away.
    Revoked(String),
    /// A check (`TcpSpec::check`) that passed: a connection would be opened.
    Checked,
}

impl ForwardOutcome {
    fn as_str(&self) -> &'static str {
        match self {
            ForwardOutcome::Closed => "closed",
            ForwardOutcome::Refused { .. } => "refused",
            ForwardOutcome::Failed(_) => "failed",
            ForwardOutcome::Revoked(_) => "revoked",
            ForwardOutcome::Checked => "checked",
        }
    }

    fn reason(&self) -> &str {
        match self {
            ForwardOutcome::Closed | ForwardOutcome::Checked => "",
            ForwardOutcome::Refused { reason, .. } => reason,
            ForwardOutcome::Failed(r) | ForwardOutcome::Revoked(r) => r,
        }
    }
}

/// One forwarded connection, as the audit trail wants it.
#[derive(Clone, Debug)]
struct ForwardRecord {
    /// `fwd_` + 16 hex digits; also in the agent's logs.
    id: String,
    user: String,
    /// The target as the user named it (name or id).
    target: String,
    /// The user's address as wicketd saw it.
    source_ip: Option<IpAddr>,
    /// The local client that connected to `wicket forward` (as the CLI reports it).
    client_peer: Option<String>,
    dest_host: String,
    dest_port: u16,
    bytes_to_dest: u64,
    bytes_from_dest: u64,
    duration: Duration,
    outcome: ForwardOutcome,
    /// Only a check: nothing was opened on the agent.
    check: bool,
}

impl ForwardRecord {
    /// Logs the record (tracing, info) and appends it to the audit chain (`forward.connection`:
    /// peer, destination, bytes each way, duration; never the content). The one place a
    /// forward is reported.
    async fn emit(&self, state: &AppState) {
        let outcome = match &self.outcome {
            ForwardOutcome::Closed | ForwardOutcome::Revoked(_) | ForwardOutcome::Checked => {
                Outcome::Success
            }
            ForwardOutcome::Refused {
                code: ErrorCode::Forbidden,
                ..
            } => Outcome::Denied,
            ForwardOutcome::Refused { .. } | ForwardOutcome::Failed(_) => Outcome::Failure,
        };
        let mut details = serde_json::json!({
            "forward_id": self.id,
            "client_peer": self.client_peer,
            "dest_host": self.dest_host,
            "dest_port": self.dest_port,
            "bytes_to_dest": self.bytes_to_dest,
            "bytes_from_dest": self.bytes_from_dest,
            "duration_ms": self.duration.as_millis() as u64,
            "end": self.outcome.as_str(),
            "reason": self.outcome.reason(),
        });
        if self.check {
            details["check"] = true.into();
        }
        state
            .audit()
            .record(crate::audit::event(
                &self.user,
                self.source_ip,
                "forward.connection",
                &format!("target:{}", self.target),
                outcome,
                details,
            ))
            .await;
        tracing::info!(
            forward = %self.id,
            user = %self.user,
            target = %self.target,
            source_ip = %self.source_ip.map(|i| i.to_string()).unwrap_or_default(),
            client_peer = self.client_peer.as_deref().unwrap_or(""),
            dest_host = %self.dest_host,
            dest_port = self.dest_port,
            bytes_to_dest = self.bytes_to_dest,
            bytes_from_dest = self.bytes_from_dest,
            duration_ms = self.duration.as_millis() as u64,
            outcome = self.outcome.as_str(),
            reason = self.outcome.reason(),
            check = self.check,
            "forwarded connection"
        );
    }
}

/// Checks a forward request, opens it on the agent, relays until both ends close or access is
/// taken away, and logs the record.
pub(super) async fn open(state: AppState, caller: Caller, request: IncomingChannel, spec: TcpSpec) {
    let started = Instant::now();
    let mut record = ForwardRecord {
        id: format!("fwd_{}", hex::encode(crate::secrets::random_bytes::<8>())),
        user: caller.user.name.clone(),
        target: spec.target.clone().unwrap_or_default(),
        source_ip: caller.source_ip,
        client_peer: spec.peer.clone(),
        dest_host: spec.host.clone(),
        dest_port: spec.port,
        bytes_to_dest: 0,
        bytes_from_dest: 0,
        duration: Duration::ZERO,
        outcome: ForwardOutcome::Closed,
        check: spec.check,
    };
    if spec.check {
        match admit(&state, &caller, &spec).await {
            Err(refusal) => {
                refusal.reject(request, &caller, "forward");
                record.outcome = ForwardOutcome::Refused {
                    code: refusal.code(),
                    reason: refusal.to_string(),
                };
            }
            Ok(_) => {
                if let Ok(ch) = request.accept() {
                    ch.split().0.close();
                }
                record.outcome = ForwardOutcome::Checked;
            }
        }
        record.duration = started.elapsed();
        record.emit(&state).await;
        return;
    }
    match broker(&state, &caller, spec, &record.id).await {
        Err(refusal) => {
            refusal.reject(request, &caller, "forward");
            record.outcome = ForwardOutcome::Refused {
                code: refusal.code(),
                reason: refusal.to_string(),
            };
        }
        Ok((agent_channel, live)) => match request.accept() {
            Ok(user_channel) => {
                let tap = Counted::default();
                let relayed = relay_live(&state, live, user_channel, agent_channel, &tap).await;
                record.bytes_to_dest = tap.to_dest.load(Ordering::Relaxed);
                record.bytes_from_dest = tap.from_dest.load(Ordering::Relaxed);
                let failed = |how: &Option<Ended>| how.as_ref().and_then(Ended::reason);
                record.outcome = match relayed.stopped {
                    Some(stop) => ForwardOutcome::Revoked(stop.reason),
                    None => {
                        match failed(&relayed.agent).or(tap.user_failed.into_inner().ok().flatten())
                        {
                            Some(e) => ForwardOutcome::Failed(e),
                            None => ForwardOutcome::Closed,
                        }
                    }
                };
            }
            Err(e) => record.outcome = ForwardOutcome::Failed(format!("user left: {e}")),
        },
    }
    record.duration = started.elapsed();
    record.emit(&state).await;
}

/// The steps every forward passes before anything is opened on the agent: the caller as the
/// store has them now, the target, the destination, the `forward` policy on it (with
/// `dest_host` and `dest_port`), the agent's link and version. A check stops here.
async fn admit(
    state: &AppState,
    caller: &Caller,
    spec: &TcpSpec,
) -> Result<(Caller, wicket_store::Target, AgentConn), Refusal> {
    let wanted = spec
        .target
        .as_deref()
        .ok_or_else(|| Refusal::BadRequest("no target named in the request".into()))?;
    let caller = current(state, caller).await?;
    let target = find_target(state, wanted).await?;
    if spec.host.is_empty() || spec.port == 0 {
        return Err(Refusal::BadRequest(format!(
            "bad destination {}",
            host_port(&spec.host, spec.port)
        )));
    }
    let facts = Facts {
        dest_host: Some(spec.host.clone()),
        dest_port: Some(spec.port),
        ..Facts::default()
    };
    authorize(
        state,
        &caller,
        Action::Forward,
        Resource::Target(&target),
        &facts,
    )
    .await?;
    let needed = OpenSpec::Tcp(TcpSpec::default()).min_version();
    let agent = online_agent(state, &target, needed, "port forwarding")?;
    Ok((caller, target, agent))
}

async fn broker(
    state: &AppState,
    caller: &Caller,
    mut spec: TcpSpec,
    id: &str,
) -> Result<(Channel, LiveSession), Refusal> {
    let (caller, target, agent) = admit(state, caller, &spec).await?;
    spec.target = None;
    spec.user = Some(caller.user.name.clone());
    spec.connection_id = Some(id.to_string());
    let live = LiveSession {
        id: id.to_string(),
        user_id: caller.user.id.clone(),
        token_id: caller.token_id.clone(),
        target_id: target.id.clone(),
        action: Action::Forward,
        run_as: None,
        source_ip: caller.source_ip,
        dest: Some((spec.host.clone(), spec.port)),
    };
    let channel = agent
        .open(&caller.user.id, &target.name, OpenSpec::Tcp(spec))
        .await
        .map_err(|e| Refusal::agent(&target.name, e))?;
    Ok((channel, live))
}

/// A forward's tap: bytes each way, and why the user's side failed if it did.
#[derive(Default)]
struct Counted {
    to_dest: AtomicU64,
    from_dest: AtomicU64,
    user_failed: std::sync::Mutex<Option<String>>,
}

impl Tap for Counted {
    const KIND: Kind = Kind::Tcp;

    async fn event(&self, from: Side, ev: &Event) -> Result<(), super::relay::Stop> {
        if let Event::Data(d) = ev {
            let count = match from {
                Side::User => &self.to_dest,
                Side::Agent => &self.from_dest,
            };
            count.fetch_add(d.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    fn ended(&self, side: Side, how: &Ended) {
        if let (Side::User, Some(reason)) = (side, how.reason()) {
            *self.user_failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
        }
    }
}

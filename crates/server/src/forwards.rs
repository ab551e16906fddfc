//! Forwarded TCP connections (`wicket forward`, `wicket proxy`): a `tcp` channel on a user's
//! link, checked against the `forward` policy action with the destination in the context,
//! opened on the target's agent (protocol version 2 or later) and spliced.
//!
//! A forward is live access like a session: it is registered in the
//! [`crate::sessions::SessionRegistry`] with its destination, so a revocation ends it. Each
//! connection, refused or not, ends in one [`ForwardRecord`], logged and appended to the audit
//! chain when it is done.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use wicket_audit::Outcome;
use wicket_mux::{Channel, ChannelReceiver, ChannelSender, Event, IncomingChannel, MuxError};
use wicket_proto::{ErrorCode, OpenSpec, TcpSpec};

use crate::auth::Caller;
use crate::authz::{authorize, Action, Facts, Resource};
use crate::client_link::find_target;
use crate::sessions::LiveSession;
use crate::state::AppState;

/// What happened to one forwarded connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForwardOutcome {
    /// Both directions ended normally.
    Closed,
    /// Refused before any byte moved: policy, unknown or offline target, old agent, or the
    /// agent could not (or would not) connect to the destination.
    Refused { code: ErrorCode, reason: String },
    /// Failed midway (a reset, a lost link).
    Failed(String),
    /// Ended because access was taken away.
    Revoked(String),
}

impl ForwardOutcome {
    fn as_str(&self) -> &'static str {
        match self {
            ForwardOutcome::Closed => "closed",
            ForwardOutcome::Refused { .. } => "refused",
            ForwardOutcome::Failed(_) => "failed",
            ForwardOutcome::Revoked(_) => "revoked",
        }
    }

    fn reason(&self) -> &str {
        match self {
            ForwardOutcome::Closed => "",
            ForwardOutcome::Refused { reason, .. } => reason,
            ForwardOutcome::Failed(r) | ForwardOutcome::Revoked(r) => r,
        }
    }
}

/// One forwarded connection, as the audit trail wants it.
#[derive(Clone, Debug)]
pub struct ForwardRecord {
    /// `fwd_` + 16 hex digits; also in the agent's logs.
    pub id: String,
    pub user: String,
    /// The target as the user named it (name or id).
    pub target: String,
    /// The user's address as wicketd saw it.
    pub source_ip: Option<IpAddr>,
    /// The local client that connected to `wicket forward` (as the CLI reports it).
    pub client_peer: Option<String>,
    pub dest_host: String,
    pub dest_port: u16,
    pub bytes_to_dest: u64,
    pub bytes_from_dest: u64,
    pub duration: Duration,
    pub outcome: ForwardOutcome,
}

impl ForwardRecord {
    /// Logs the record (tracing, info) and appends it to the audit chain (`forward.connection`:
    /// peer, destination, bytes each way, duration; never the content). The one place a
    /// forward is reported.
    pub async fn emit(&self, state: &AppState) {
        let outcome = match &self.outcome {
            ForwardOutcome::Closed | ForwardOutcome::Revoked(_) => Outcome::Success,
            ForwardOutcome::Refused {
                code: ErrorCode::Forbidden,
                ..
            } => Outcome::Denied,
            ForwardOutcome::Refused { .. } | ForwardOutcome::Failed(_) => Outcome::Failure,
        };
        state
            .audit()
            .record(crate::audit::event(
                &self.user,
                self.source_ip,
                "forward.connection",
                &format!("target:{}", self.target),
                outcome,
                serde_json::json!({
                    "forward_id": self.id,
                    "client_peer": self.client_peer,
                    "dest_host": self.dest_host,
                    "dest_port": self.dest_port,
                    "bytes_to_dest": self.bytes_to_dest,
                    "bytes_from_dest": self.bytes_from_dest,
                    "duration_ms": self.duration.as_millis() as u64,
                    "end": self.outcome.as_str(),
                    "reason": self.outcome.reason(),
                }),
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
            "forwarded connection"
        );
    }
}

/// Checks a forward request, opens it on the agent, relays until both ends close or access is
/// taken away, and logs the record.
pub async fn open_forward(
    state: AppState,
    caller: Caller,
    request: IncomingChannel,
    spec: TcpSpec,
) {
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
    };
    match broker(&state, &caller, spec, &record.id).await {
        Err((code, reason)) => {
            request.reject(code, &reason);
            record.outcome = ForwardOutcome::Refused { code, reason };
        }
        Ok((agent_channel, live)) => match request.accept() {
            Ok(user_channel) => {
                let guard = state.sessions().register(live);
                relay(
                    user_channel,
                    agent_channel,
                    guard.ended.clone(),
                    &mut record,
                )
                .await;
            }
            Err(e) => record.outcome = ForwardOutcome::Failed(format!("user left: {e}")),
        },
    }
    record.duration = started.elapsed();
    record.emit(&state).await;
}

async fn broker(
    state: &AppState,
    caller: &Caller,
    mut spec: TcpSpec,
    id: &str,
) -> Result<(Channel, LiveSession), (ErrorCode, String)> {
    let wanted = spec.target.take().ok_or((
        ErrorCode::UnknownTarget,
        "no target named in the request".into(),
    ))?;
    // The link may be hours old: judge this connection by the user, token and groups of now.
    let caller = &current(state, caller).await?;
    let target = find_target(state, &wanted).await?;
    let dest = dest_display(&spec.host, spec.port);
    if spec.host.is_empty() || spec.port == 0 {
        return Err((ErrorCode::Protocol, format!("bad destination {dest}")));
    }
    let facts = Facts {
        dest_host: Some(spec.host.clone()),
        dest_port: Some(spec.port),
        ..Facts::default()
    };
    authorize(
        state,
        caller,
        Action::Forward,
        Resource::Target(&target),
        &facts,
    )
    .await
    .map_err(crate::authz::channel_refusal)?;
    let agent = crate::client_link::online_agent(
        state,
        &target,
        OpenSpec::Tcp(TcpSpec::default()).min_version(),
        "port forwarding",
    )?;
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
        .map_err(|e| crate::client_link::open_failed(&target.name, e))?;
    Ok((channel, live))
}

/// The caller as the store has it now (a link authenticates once, at its start, and a
/// `wicket forward` may keep its link for days).
pub(crate) async fn current(
    state: &AppState,
    caller: &Caller,
) -> Result<Caller, (ErrorCode, String)> {
    let store = state.store();
    let internal = |e: wicket_store::StoreError| (ErrorCode::Internal, e.to_string());
    let unauthorized = |m: &str| (ErrorCode::Unauthorized, m.to_string());
    let user = match store.user_by_id(&caller.user.id).await.map_err(internal)? {
        Some(u) if !u.disabled => u,
        Some(_) => return Err(unauthorized("your user was disabled")),
        None => return Err(unauthorized("your user was deleted")),
    };
    match store
        .token_by_id(&caller.token_id)
        .await
        .map_err(internal)?
    {
        Some(t) if t.revoked_at.is_none() && t.expires_at > crate::now_ms() => {}
        Some(t) if t.revoked_at.is_none() => {
            return Err(unauthorized(
                "your login expired: run `wicket login` and start again",
            ))
        }
        _ => return Err(unauthorized("your token was revoked")),
    }
    let groups = store.groups_of_user(&user.id).await.map_err(internal)?;
    Ok(Caller {
        user,
        groups,
        ..caller.clone()
    })
}

/// Splices the two channels, counting bytes each way, until both directions have closed or
/// access is revoked.
async fn relay(
    user: Channel,
    agent: Channel,
    mut ended: tokio::sync::watch::Receiver<Option<String>>,
    record: &mut ForwardRecord,
) {
    let (user_tx, user_rx) = user.split();
    let (agent_tx, agent_rx) = agent.split();
    let (cut_user, cut_agent) = (user_tx.clone(), agent_tx.clone());
    let mut to_dest = Pumped::default();
    let mut from_dest = Pumped::default();
    let pumps = async {
        tokio::join!(
            pump(user_rx, agent_tx, &mut to_dest),
            pump(agent_rx, user_tx, &mut from_dest)
        );
    };
    let revoked = async {
        let reason = ended
            .wait_for(|r| r.is_some())
            .await
            .map(|r| r.clone().unwrap_or_default());
        match reason {
            Ok(r) => format!("access revoked: {r}"),
            // The registry entry is gone: nobody can revoke this forward any more.
            Err(_) => std::future::pending().await,
        }
    };
    let revoked = tokio::select! {
        _ = pumps => None,
        r = revoked => Some(r),
    };
    record.bytes_to_dest = to_dest.bytes;
    record.bytes_from_dest = from_dest.bytes;
    record.outcome = match revoked {
        Some(reason) => {
            let _ = cut_user.error(ErrorCode::Forbidden, &reason);
            cut_user.close();
            cut_agent.close();
            ForwardOutcome::Revoked(reason)
        }
        None => match from_dest.error.or(to_dest.error) {
            Some(e) => ForwardOutcome::Failed(e),
            None => ForwardOutcome::Closed,
        },
    };
}

#[derive(Default)]
struct Pumped {
    bytes: u64,
    error: Option<String>,
}

async fn pump(mut from: ChannelReceiver, to: ChannelSender, out: &mut Pumped) {
    while let Some(ev) = from.recv().await {
        let sent = match ev {
            Event::Data(d) => {
                out.bytes += d.len() as u64;
                from.unless_cut(to.data(d)).await
            }
            Event::Eof => to.eof(),
            Event::Error { code, reason } => {
                out.error.get_or_insert_with(|| reason.clone());
                to.error(code, &reason)
            }
            // Nothing else belongs on a tcp channel.
            _ => Ok(()),
        };
        if let Err(e) = sent {
            // The source was cut: tell the other side why, as its queued ERROR would have (the
            // far end resets its connection).
            if let MuxError::Cut(cut) = e {
                out.error.get_or_insert_with(|| cut.reason.clone());
                let _ = to.error(cut.code, &cut.reason);
            }
            break;
        }
    }
    to.close();
}

pub(crate) fn dest_display(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

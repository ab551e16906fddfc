//! The users' endpoint: `GET /v1/link`, a WebSocket authenticated by the bearer token on the
//! upgrade request. Each channel the user opens is a session request (or a TCP forward, see
//! [`crate::forwards`]): the server checks it, opens a matching channel on the target's agent
//! link and splices the two.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use wicket_mux::{
    Channel, ChannelReceiver, ChannelSender, Event, IncomingChannel, MuxError, Transport,
};
use wicket_proto::{ErrorCode, OpenSpec, SessionSpec};

use crate::auth::Caller;
use crate::authz::{authorize, Action, Facts, Resource};
use crate::handshake::{hello, refuse, welcome};
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
    let Some((mux, mut incoming)) = welcome(&state, t, version).await else {
        return;
    };
    tracing::debug!(user = %caller.user.name, "user link up");
    while let Some(request) = incoming.recv().await {
        match request.spec().clone() {
            OpenSpec::Session(spec) => {
                tokio::spawn(open_session(state.clone(), caller.clone(), request, spec));
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
/// is taken away.
async fn open_session(
    state: AppState,
    caller: Caller,
    request: IncomingChannel,
    spec: SessionSpec,
) {
    let request_had_pty = spec.pty.is_some();
    match broker(&state, &caller, spec).await {
        Ok((agent_channel, live, settings)) => match request.accept() {
            Ok(user_channel) => {
                let guard = state.sessions().register(live);
                let pty = request_had_pty;
                relay(
                    user_channel,
                    agent_channel,
                    guard.ended.clone(),
                    &settings,
                    pty,
                )
                .await;
            }
            Err(e) => tracing::debug!(error = %e, "user left before the session opened"),
        },
        Err((code, reason)) => {
            tracing::info!(user = %caller.user.name, %code, %reason, "session refused");
            request.reject(code, &reason);
        }
    }
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
            format!("unknown target {wanted:?}"),
        )
    })
}

async fn broker(
    state: &AppState,
    caller: &Caller,
    mut spec: SessionSpec,
) -> Result<(Channel, LiveSession, SessionSettings), (ErrorCode, String)> {
    let wanted = spec.target.take().ok_or((
        ErrorCode::UnknownTarget,
        "no target named in the request".into(),
    ))?;
    let target = find_target(state, &wanted).await?;
    if spec.run_as.is_none() {
        spec.run_as = state.config().default_run_as.clone();
    }
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
        .map_err(|e| (ErrorCode::Forbidden, e.message))?;
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
    let agent = state.agents().get(&target.id).ok_or_else(|| {
        (
            ErrorCode::TargetOffline,
            format!(
                "target {} is offline (its agent is not connected)",
                target.name
            ),
        )
    })?;
    let session_id = format!("ses_{}", hex::encode(crate::secrets::random_bytes::<8>()));
    spec.user = Some(caller.user.name.clone());
    spec.session_id = Some(session_id.clone());
    tracing::info!(
        user = %caller.user.name,
        target = %target.name,
        action = action.as_str(),
        run_as = spec.run_as.as_deref().unwrap_or("(agent's user)"),
        session = %session_id,
        "session opening"
    );
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
    let channel = agent
        .mux
        .open(OpenSpec::Session(spec))
        .await
        .map_err(|e| match e {
            MuxError::Rejected { code, reason } => (code, reason),
            other => (
                ErrorCode::TargetOffline,
                format!("target {}: {other}", target.name),
            ),
        })?;
    Ok((channel, live, settings))
}

/// Splices a user's channel and an agent's channel. Each direction runs on its own so that a
/// stalled reader on one side never blocks the other; credit on both links bounds what waits
/// here to about one window per direction. The session ends early, with the reason sent to the
/// user, when access is taken away (`ended` fires), when it is idle too long, or when it reaches
/// its maximum duration; closing both channels hangs up the remote shell.
async fn relay(
    user: Channel,
    agent: Channel,
    mut ended: tokio::sync::watch::Receiver<Option<String>>,
    settings: &SessionSettings,
    pty: bool,
) {
    let (user_tx, user_rx) = user.split();
    let (agent_tx, agent_rx) = agent.split();
    if let Some(banner) = settings.banner.as_deref().filter(|b| !b.is_empty()) {
        let text = if pty {
            format!("{}\r\n", banner.replace('\n', "\r\n"))
        } else {
            format!("{banner}\n")
        };
        let bytes = bytes::Bytes::from(text);
        let _ = if pty {
            user_tx.data(bytes).await
        } else {
            user_tx.ext_data(bytes).await
        };
    }
    let activity = std::sync::Arc::new(std::sync::Mutex::new(tokio::time::Instant::now()));
    let (cut_user, cut_agent) = (user_tx.clone(), agent_tx.clone());
    let pumps = async {
        tokio::join!(
            pump(user_rx, agent_tx, false, &activity),
            pump(agent_rx, user_tx, true, &activity)
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
    let limits = watchdog(settings, &activity);
    let (code, reason) = tokio::select! {
        _ = pumps => return,
        r = revoked => r,
        r = limits => (ErrorCode::SessionLimit, r),
    };
    tracing::info!(%reason, "ending session");
    let _ = cut_user.error(code, &reason);
    cut_user.close();
    cut_agent.close();
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

async fn pump(
    mut from: ChannelReceiver,
    to: ChannelSender,
    from_agent: bool,
    activity: &std::sync::Mutex<tokio::time::Instant>,
) {
    while let Some(ev) = from.recv().await {
        if let Event::Data(_) | Event::ExtData(_) = ev {
            // Input and output both count as activity for the idle timeout.
            *activity.lock().unwrap_or_else(|e| e.into_inner()) = tokio::time::Instant::now();
        }
        let sent = match ev {
            Event::Data(d) => to.data(d).await,
            Event::ExtData(d) if from_agent => to.ext_data(d).await,
            Event::Eof => to.eof(),
            Event::Resize { cols, rows } if !from_agent => to.resize(cols, rows),
            Event::Signal(s) if !from_agent => to.signal(s),
            Event::Exit(s) if from_agent => to.exit(s),
            Event::Error { code, reason } => to.error(code, &reason),
            // Frames that make no sense in this direction are dropped, not relayed.
            _ => Ok(()),
        };
        if sent.is_err() {
            break;
        }
    }
    // The source closed (or failed): close the destination so the other side learns of it.
    to.close();
}

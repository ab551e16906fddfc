//! The users' endpoint: `GET /v1/link`, a WebSocket authenticated by the bearer token on the
//! upgrade request. After the handshake, each channel the user opens goes to the
//! [`crate::broker`], which checks it, opens a matching channel on the target's agent link
//! and relays the two. The link runs on its token's login ([`login`]): the client is warned
//! before it expires and may renew it with a newer token of the same user.

mod login;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use wicket_mux::{Control, Transport};
use wicket_proto::ErrorCode;

use crate::auth::Caller;
use crate::handshake::{hello, refuse, welcome};
use crate::state::AppState;
use crate::ws;

pub async fn upgrade(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    upgrade: WebSocketUpgrade,
) -> Response {
    ws::limit(upgrade).on_upgrade(move |socket| serve_user(state, caller, ws::transport(socket)))
}

/// A user link in memory for a caller already authenticated by the request in hand (the
/// console's terminal): the returned transport is the user's end, to be dialled like the
/// CLI's (handshake, then channels). Everything past the transport is the link a CLI gets.
pub(crate) fn serve_in_memory(state: AppState, caller: Caller) -> Transport {
    let (user_end, server_end) = wicket_mux::transport::mem_pair();
    tokio::spawn(serve_user(state, caller, server_end));
    user_end
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
    let mut controls = mux.controls();
    let mut login = login::Login::new(&state, caller).await;
    let far = tokio::time::Instant::now() + std::time::Duration::from_secs(100 * 365 * 86400);
    loop {
        let (warn_at, end_at) = (login.warn_at(), login.end_at());
        tokio::select! {
            request = incoming.recv() => {
                let Some(request) = request else { break };
                if let Err(e) = crate::limits::open_spec(request.spec()) {
                    request.reject(ErrorCode::Protocol, &e.to_string());
                    continue;
                }
                tokio::spawn(crate::broker::open(
                    state.clone(),
                    login.caller().clone(),
                    request,
                    version,
                ));
            }
            Some(control) = next_control(&mut controls) => {
                if let Control::Renew(renew) = control {
                    login.renew(&state, &mux, renew).await;
                }
            }
            _ = tokio::time::sleep_until(warn_at.unwrap_or(far)), if warn_at.is_some() => {
                login.warn(&state, &mux);
            }
            _ = tokio::time::sleep_until(end_at.unwrap_or(far)), if end_at.is_some() => {
                login.expired(&state);
            }
            _ = state.closing() => {
                mux.close(ErrorCode::Shutdown, &crate::sessions::Ending::shutdown().reason);
                break;
            }
        }
    }
    let _ = mux.closed().await;
}

/// The next control message of the link, or never when there are none to come.
async fn next_control(
    controls: &mut Option<tokio::sync::mpsc::Receiver<Control>>,
) -> Option<Control> {
    match controls {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

//! The users' endpoint: `GET /v1/link`, a WebSocket authenticated by the bearer token on the
//! upgrade request. After the handshake, each channel the user opens goes to the
//! [`crate::broker`], which checks it, opens a matching channel on the target's agent link
//! and relays the two.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use wicket_mux::Transport;
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
        tokio::spawn(crate::broker::open(
            state.clone(),
            caller.clone(),
            request,
            version,
        ));
    }
    let _ = mux.closed().await;
}

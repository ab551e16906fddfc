//! Sessions: the history, ending one, replaying its recording, watching it live. Replay, watch
//! and terminate are each decided by the policy on the session's target, whoever opened it.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::broadcast::error::RecvError;
use wicket_api::{SessionQuery, SessionView, Terminated};
use wicket_store::{SessionFilter, SessionRecord, Target};

use crate::auth::Caller;
use crate::authz::{authorize, evaluate, principal, Action, Facts, Resource};
use crate::error::ApiError;
use crate::sessions::LiveSession;
use crate::state::AppState;
use crate::tail::{Next, StoreTail};

/// A session as the API lists it: its record, and whether this server relays it now.
fn view(r: SessionRecord, live: bool) -> SessionView {
    SessionView {
        id: r.id,
        user_id: r.user_id,
        user_name: r.user_name,
        target_id: r.target_id,
        target_name: r.target_name,
        action: r.action,
        run_as: r.run_as,
        command: r.command,
        tty: r.tty,
        source_ip: r.source_ip,
        started_at: r.started_at,
        ended_at: r.ended_at,
        end_reason: r.end_reason,
        exit_status: r.exit_status,
        bytes_in: r.bytes_in,
        bytes_out: r.bytes_out,
        recording: r.recording,
        recording_sha256: r.recording_sha256,
        recording_bytes: r.recording_bytes,
        replica: r.replica,
        live,
    }
}

/// Sessions the caller opened, plus those whose target the policy lets them replay or watch.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<SessionQuery>,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let filter = SessionFilter {
        active_only: q.active,
        user_name: q.user,
        target_name: q.target,
        since: q.since,
        until: q.until,
        limit: q.limit,
    };
    let rows = state.store().list_sessions(&filter).await?;
    let mut targets: std::collections::HashMap<String, Option<Target>> = Default::default();
    let who = principal(&caller);
    let mut out = Vec::new();
    for record in rows {
        let visible = if record.user_id == caller.user.id {
            true
        } else {
            if !targets.contains_key(&record.target_id) {
                let t = state.store().target_by_id(&record.target_id).await?;
                targets.insert(record.target_id.clone(), t);
            }
            match targets.get(&record.target_id).and_then(|t| t.as_ref()) {
                Some(t) => [Action::Replay, Action::Watch].into_iter().any(|action| {
                    let facts = Facts {
                        mfa: caller.mfa,
                        ..Facts::default()
                    };
                    let d = evaluate(
                        &state.policies(),
                        &who,
                        action,
                        Resource::Target(t),
                        caller.source_ip,
                        &facts,
                    );
                    d.allowed
                }),
                None => caller.user.is_admin,
            }
        };
        if visible {
            let live = state.sessions().contains(&record.id);
            out.push(view(record, live));
        }
    }
    Ok(Json(out))
}

/// The session and the decision for `action` on its target.
async fn checked(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> Result<SessionRecord, ApiError> {
    let record = state
        .store()
        .session(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no session {id}")))?;
    match state.store().target_by_id(&record.target_id).await? {
        Some(t) => {
            authorize(
                state,
                caller,
                action,
                Resource::Target(&t),
                &Facts::default(),
            )
            .await?;
        }
        // The target was deleted since: only an administrator may still look.
        None if caller.user.is_admin => {}
        None => {
            return Err(ApiError::forbidden(format!(
                "{} may not {} session {id}: its target no longer exists",
                caller.user.name,
                action.as_str()
            )))
        }
    }
    Ok(record)
}

/// Ends a live session now; its user is told who ended it. A session relayed by another
/// replica is asked to end through the store (202): that replica ends it within a second or two.
pub async fn terminate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Terminated>), ApiError> {
    let record = checked(&state, &caller, &id, Action::Terminate).await?;
    if record.ended_at.is_some() {
        return Err(ApiError::conflict(format!("session {id} already ended")));
    }
    let reason = format!("terminated by {}", caller.user.name);
    if state.sessions().end(&id, &reason) {
        tracing::info!(session = %id, by = %caller.user.name, "session terminated");
        return Ok((
            StatusCode::OK,
            Json(Terminated {
                id,
                terminated: true,
                requested: false,
            }),
        ));
    }
    if !state.store().request_termination(&id, &reason).await? {
        return Err(ApiError::conflict(format!(
            "session {id} already ended or is already being terminated"
        )));
    }
    tracing::info!(session = %id, by = %caller.user.name, "termination requested from the relaying replica");
    Ok((
        StatusCode::ACCEPTED,
        Json(Terminated {
            id,
            terminated: false,
            requested: true,
        }),
    ))
}

/// The recording as stored, streamed a chunk at a time: zstd frames (or, for recordings made
/// before compression, plain asciicast v2), named by `x-wicket-recording-encoding`. The
/// server does not decompress: the client hashes exactly what is stored against the sealed
/// SHA-256, which travels in another header, and decompresses for itself. The sealed SHA-256 travels in a
/// header so the client can check what it received.
pub async fn recording(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = checked(&state, &caller, &id, Action::Replay).await?;
    let keys = state
        .recordings()
        .chunk_keys(&id)
        .await
        .map_err(|e| match e {
            wicket_recording::RecordingError::NotFound(_) => {
                ApiError::not_found(format!("session {id} has no recording"))
            }
            other => ApiError::unavailable(format!("recording store: {other}")),
        })?;
    let encoding = if keys
        .first()
        .is_some_and(wicket_recording::store::is_compressed)
    {
        "zstd"
    } else {
        "identity"
    };
    let store = state.recordings().clone();
    let chunks = futures_util::stream::unfold(keys.into_iter(), move |mut keys| {
        let store = store.clone();
        async move {
            let key = keys.next()?;
            let item = store
                .get(&key)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()));
            Some((item, keys))
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-asciicast"),
    );
    headers.insert(
        "x-wicket-recording-encoding",
        header::HeaderValue::from_static(encoding),
    );
    if let Some(sha) = record
        .recording_sha256
        .and_then(|s| header::HeaderValue::from_str(&s).ok())
    {
        headers.insert("x-wicket-recording-sha256", sha);
    }
    Ok(response)
}

/// A live session's screen as it is now, then its output, read-only, as raw terminal bytes.
/// The watcher is itself live access: it is registered like a session, so revoking the
/// watcher's access ends the stream at once. A session this replica relays is followed as it
/// happens; one another replica relays, through its recording as the chunks land in the
/// shared store (`crate::tail`), a flush interval late. The screen is drawn from the
/// recording (`crate::screen`); an unrecorded session is followed from now on.
pub async fn watch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = checked(&state, &caller, &id, Action::Watch).await?;
    let (screen, live) = joined(&state, &id).await;
    let source = match live {
        Some(rx) => Source::Live(rx),
        None if record.ended_at.is_some() => {
            return Err(ApiError::conflict(format!("session {id} already ended")))
        }
        None if record.recording != "recorded" => {
            return Err(ApiError::conflict(format!(
                "session {id} runs on another wicketd and is not being recorded: watch it there"
            )))
        }
        None => Source::Store(
            StoreTail::start(state.clone(), id.clone())
                .await
                .map_err(|e| ApiError::unavailable(format!("recording store: {e}")))?,
        ),
    };
    let watcher = LiveSession {
        id: format!("wat_{}", hex::encode(crate::secrets::random_bytes::<8>())),
        user_id: caller.user.id.clone(),
        token_id: caller.token_id.clone(),
        target_id: record.target_id.clone(),
        action: Action::Watch,
        run_as: None,
        source_ip: caller.source_ip,
        dest: None,
    };
    let ended = state.sessions().register_detached(watcher.clone());
    let guard = Unregister {
        state: state.clone(),
        id: watcher.id,
    };
    tracing::info!(session = %id, by = %caller.user.name, from_store = matches!(source, Source::Store(_)), "session watched");
    let screen = futures_util::stream::iter(screen.map(Ok::<_, std::io::Error>));
    let live = futures_util::stream::unfold(Some((source, ended, guard)), |s| async move {
        let (mut source, mut ended, guard) = s?;
        let item = tokio::select! {
            next = source.next() => match next {
                Ok(bytes) => bytes,
                Err(end) => return Some((Ok::<_, std::io::Error>(end), None)),
            },
            reason = revoked(&mut ended) => {
                let end = Bytes::from(format!("\r\n[wicket: {reason}]\r\n"));
                return Some((Ok(end), None));
            }
        };
        Some((Ok(item), Some((source, ended, guard))))
    });
    let mut response = Body::from_stream(screen.chain(live)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    Ok(response)
}

/// Joins live session `id` if it runs here: its screen as the store holds it once the
/// recorder has stored all it had (none when the session is unrecorded, or the store fails),
/// and its output from then on.
///
/// A frame reaches watchers before the recorder, so every frame in the chunks listed here
/// went out before the subscription: none is shown twice. What is relayed between the store
/// catching up and the subscription (an instant, and only while the session writes) is what
/// a watcher misses.
async fn joined(
    state: &AppState,
    id: &str,
) -> (
    Option<Bytes>,
    Option<tokio::sync::broadcast::Receiver<Bytes>>,
) {
    let Some(recorder) = state.sessions().recorder(id) else {
        let note = Bytes::from_static(
            b"[wicket: this session is not recorded: its output shows from now on]\r\n",
        );
        let live = state.sessions().subscribe(id);
        return (live.is_some().then_some(note), live);
    };
    let keys = match recorder.sync().await {
        Ok(()) => state.recordings().chunk_keys(id).await.ok(),
        Err(_) => None,
    };
    drop(recorder);
    let live = state.sessions().subscribe(id);
    let screen = match (&live, keys) {
        (Some(_), Some(keys)) => match crate::screen::of_recording(state, &keys).await {
            Ok(s) => Some(s).filter(|s| !s.is_empty()),
            Err(e) => {
                tracing::warn!(session = %id, error = %e, "cannot draw the screen for a watcher");
                None
            }
        },
        _ => None,
    };
    (screen, live)
}

/// Where a watcher's output comes from.
enum Source {
    /// The session runs here: its output as the relay passes it.
    Live(tokio::sync::broadcast::Receiver<Bytes>),
    /// Another replica relays it: its recording, as chunks land.
    Store(StoreTail),
}

impl Source {
    /// The next bytes for the watcher, or (`Err`) the last line to show it.
    async fn next(&mut self) -> Result<Bytes, Bytes> {
        let ended = || Bytes::from_static(b"\r\n[wicket: the session ended]\r\n");
        match self {
            Source::Live(rx) => match rx.recv().await {
                Ok(bytes) => Ok(bytes),
                Err(RecvError::Lagged(n)) => Ok(Bytes::from(format!(
                    "\r\n[wicket: this viewer fell behind; {n} frames skipped]\r\n"
                ))),
                Err(RecvError::Closed) => Err(ended()),
            },
            Source::Store(tail) => match tail.next().await {
                Ok(Next::Output(bytes)) => Ok(bytes),
                Ok(Next::Ended) => Err(ended()),
                Err(e) => Err(Bytes::from(format!(
                    "\r\n[wicket: the recording could not be read: {e}]\r\n"
                ))),
            },
        }
    }
}

/// Resolves with the reason once the watcher's access is taken away.
async fn revoked(
    ended: &mut tokio::sync::watch::Receiver<Option<crate::sessions::Ending>>,
) -> String {
    let ending = ended.wait_for(|r| r.is_some()).await.map(|r| r.clone());
    match ending {
        Ok(Some(e)) => e.reason,
        _ => std::future::pending().await,
    }
}

/// Takes a watcher out of the registry when its stream is dropped.
struct Unregister {
    state: AppState,
    id: String,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        self.state.sessions().remove(&self.id);
    }
}

//! Server-side session recording: which store, what to do when it fails, and retention.
//!
//! Recording is the server's job so that nobody on a target can switch it off or edit it. By
//! default the server fails closed: a session that cannot be recorded is refused, and one whose
//! recording fails midway is ended with the reason. An operator may choose fail-open instead;
//! such sessions are marked `unrecorded` in the session history.

use std::time::{Duration, SystemTime};

use wicket_audit::Outcome;
use wicket_proto::PtySpec;
use wicket_recording::{
    Header, Recorder, RecorderConfig, RecordingError, RecordingStore, SessionMeta,
};

use crate::config::{FailMode, ServerConfig};
use crate::error::ServerError;
use crate::state::AppState;

/// Opens the configured store (a local folder is created if needed).
pub fn open_store(config: &ServerConfig) -> Result<RecordingStore, ServerError> {
    let store = match &config.recording.store {
        Some(c) => RecordingStore::open(c),
        None => RecordingStore::local(&config.data_dir.join("recordings")),
    };
    store.map_err(|e| ServerError::Config(format!("recording store: {e}")))
}

/// What became of a session's recording when it opened.
pub enum Start {
    Recording(Recorder),
    /// Fail-open and the store is down: the session runs, marked unrecorded.
    Unrecorded,
}

/// Starts recording a session, applying the fail mode.
pub async fn start(
    state: &AppState,
    meta: SessionMeta,
    pty: Option<&PtySpec>,
) -> Result<Start, String> {
    let (cols, rows, term) = match pty {
        Some(p) => (p.cols, p.rows, p.term.as_str()),
        None => (80, 24, "dumb"),
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let header = Header::new(meta, cols, rows, now, term);
    let tuning = RecorderConfig {
        flush_interval: state.config().recording.flush_interval,
        chunk_bytes: state
            .config()
            .recording
            .chunk_size
            .clamp(64 * 1024, 64 * 1024 * 1024),
        ..RecorderConfig::default()
    };
    match Recorder::start(state.recordings().clone(), header, tuning).await {
        Ok(r) => Ok(Start::Recording(r)),
        Err(e) => refuse_or_continue(state, &e),
    }
}

/// The session runs unrecorded (fail-open), or is refused with the store's error.
fn refuse_or_continue(state: &AppState, e: &RecordingError) -> Result<Start, String> {
    tracing::warn!(error = %e, "session recording store unavailable");
    match state.config().recording.on_store_failure {
        FailMode::Closed => Err(e.to_string()),
        FailMode::Open => Ok(Start::Unrecorded),
    }
}

/// Deletes expired recordings once an hour (and once at start), if a retention is set.
pub async fn retention(state: AppState) {
    let Some(keep) = state.config().recording.retention else {
        return;
    };
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let cutoff = SystemTime::now() - keep;
        match state.recordings().older_than(cutoff).await {
            Ok(old) => {
                for id in old {
                    // A live session's recording is never expired, however long it runs.
                    if state.sessions().contains(&id) {
                        continue;
                    }
                    let (outcome, details) = match state.recordings().delete(&id).await {
                        Ok(()) => {
                            tracing::info!(session = %id, "recording deleted by retention");
                            let kept = humantime::format_duration(keep).to_string();
                            (Outcome::Success, serde_json::json!({ "retention": kept }))
                        }
                        Err(e) => {
                            tracing::warn!(session = %id, error = %e, "retention delete failed");
                            (
                                Outcome::Failure,
                                serde_json::json!({ "error": e.to_string() }),
                            )
                        }
                    };
                    // The deletion is on record like everything else.
                    state
                        .audit()
                        .record(crate::audit::event(
                            "wicketd",
                            None,
                            "recording.delete",
                            &format!("session:{id}"),
                            outcome,
                            details,
                        ))
                        .await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "retention scan failed"),
        }
    }
}

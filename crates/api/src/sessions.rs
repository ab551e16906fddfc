//! Sessions: the history and ending one. (A recording and a live session's output are bytes,
//! not JSON: see the document in [`crate::openapi()`].)

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The query of `GET /v1/sessions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    /// Only sessions still running.
    #[serde(default)]
    pub active: bool,
    /// Only this user's sessions (by name).
    pub user: Option<String>,
    /// Only sessions on this target (by name).
    pub target: Option<String>,
    /// Started at or after, unix milliseconds.
    pub since: Option<i64>,
    /// Started before, unix milliseconds.
    pub until: Option<i64>,
    /// At most this many (default 1000, at most 10000); newest first.
    pub limit: Option<i64>,
}

/// A session as `GET /v1/sessions` lists it: the caller's own, and those whose target the
/// policy lets the caller replay or watch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    /// `ses_...`: for replay, watch and terminate.
    pub id: String,
    /// The user's id.
    pub user_id: String,
    /// The user's name when the session started.
    pub user_name: String,
    /// The target's id.
    pub target_id: String,
    /// The target's name when the session started.
    pub target_name: String,
    /// The policy action it was allowed as.
    pub action: String,
    /// The OS user it ran as, resolved before the policy decided.
    pub run_as: Option<String>,
    /// The command, or `null` for a login shell.
    pub command: Option<String>,
    /// Whether it ran on a PTY.
    pub tty: bool,
    /// The user's address, as the server saw it.
    pub source_ip: Option<String>,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Unix milliseconds; `null` while it runs.
    pub ended_at: Option<i64>,
    /// Why it ended, in words (`terminated by alice`...); `null` while it runs.
    pub end_reason: Option<String>,
    /// How the remote process ended: `code 0`, `signal 9`; `null` if it never said.
    pub exit_status: Option<String>,
    /// Bytes from the user to the target.
    pub bytes_in: i64,
    /// Bytes from the target to the user.
    pub bytes_out: i64,
    /// `recorded`, `unrecorded` (the store was down and the operator chose fail-open) or
    /// `failed` (the store failed mid-session, which ended it).
    pub recording: String,
    /// The SHA-256 of the stored recording, sealed in the audit log when the session ended.
    pub recording_sha256: Option<String>,
    /// The stored recording's size.
    pub recording_bytes: Option<i64>,
    /// The wicketd that relays (or relayed) it: its replica id.
    pub replica: Option<String>,
    /// Running on the server that answered, now.
    pub live: bool,
}

/// `POST /v1/sessions/{id}/terminate`: 200 when this server ended it, 202 when the replica
/// relaying it was asked to (it does within a second or two).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Terminated {
    /// The session.
    pub id: String,
    /// Ended by this request, on this server.
    pub terminated: bool,
    /// Another replica relays it and was asked to end it. Sent only as `true`, with a 202.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requested: bool,
}

//! The web console's own routes: signing in with a cookie instead of a bearer token, and the
//! terminal WebSocket's messages.
//!
//! A console login is an ordinary password login (same checks, limits and audit) whose token
//! the server puts in an HttpOnly cookie rather than the body; the page then proves each
//! state-changing request with the CSRF token of [`ConsoleSession`].

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `POST /v1/console/login` (the body is [`crate::auth::LoginRequest`]) and
/// `GET /v1/console/me`: who is signed in to the console. The token stays in the cookie.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsoleSession {
    /// The user signed in.
    pub user: String,
    /// Whether the user is an administrator (what they may do is still the policy's call).
    pub is_admin: bool,
    /// Whether this login proved a second factor.
    pub mfa: bool,
    /// When the login stops working, unix milliseconds.
    pub expires_at: i64,
    /// Sent back in the `X-Wicket-CSRF` header with every state-changing request.
    pub csrf: String,
}

/// `GET /v1/console/config`: what the sign-in page offers, before anyone signs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsoleConfig {
    /// Single sign-on is configured: the page offers it (`GET /v1/console/sso`).
    pub sso: bool,
}

/// `GET /v1/console/sso/callback`: what the OpenID provider sends the browser back with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SsoCallback {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    /// The provider's error code, when the sign-in failed there.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// `GET /v1/console/terminal`: the session the terminal opens. The size is the browser's,
/// measured before the WebSocket opens, so the shell starts at the size it is shown at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TerminalQuery {
    /// Target name or id.
    pub target: String,
    /// The OS user to run as; the server's default when absent.
    #[serde(default)]
    pub run_as: Option<String>,
    pub cols: u16,
    pub rows: u16,
}

/// A text message from the browser on the terminal WebSocket (binary messages are keystrokes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TerminalControl {
    /// The terminal's new size.
    Resize { cols: u16, rows: u16 },
    /// The page has drawn this many more bytes of output. The server keeps at most
    /// [`TERMINAL_WINDOW`] bytes sent and not yet drawn, so a page that cannot keep up slows
    /// the session down instead of queueing output.
    Ack { bytes: u64 },
}

/// Output bytes the server sends the page ahead of its acknowledgements.
pub const TERMINAL_WINDOW: u64 = 512 * 1024;

/// A text message from the server on the terminal WebSocket (binary messages are output).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TerminalEvent {
    /// The session is open.
    Started,
    /// The session ended: `message` says how, in words for the page to show.
    Ended {
        /// The shell's exit code (128 + a signal's number for a killed shell), when it
        /// exited; none when the session was cut (revoked, timed out, the agent gone).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        message: String,
    },
}

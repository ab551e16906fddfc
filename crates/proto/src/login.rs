//! The login a user's link runs on (version 5): the server's notices about it and the client's
//! renewal.
//!
//! A user's link is authenticated once, by the bearer token of its upgrade request, and tokens
//! are short-lived. Some minutes before the token expires the server sends a [`Notice`] on
//! channel 0, which the client shows on its own line (stderr, never the session's recorded
//! stream). A client that finds a newer token (its user ran `wicket login` in another terminal)
//! sends it in a [`Renew`]; the server checks it is a live token of the same user and carries
//! the link and its live sessions over to it, and says so in another notice.

use serde::{Deserialize, Serialize};

/// Longest [`Notice::text`]: it is shown to a person, on one or two lines.
pub const MAX_NOTICE_LEN: usize = 1024;

/// Longest token a [`Renew`] may carry (wicket's are 47 characters).
pub const MAX_TOKEN_LEN: usize = 512;

/// What a notice is about, so a client can act on it as well as show it. A kind this build does
/// not know decodes as [`NoticeKind::Other`]: its text is still shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The link's login expires soon ([`Notice::expires_at`]); a newer token may be sent.
    LoginExpiring,
    /// A [`Renew`] was accepted: the link and its sessions now run on the new token.
    LoginRenewed,
    /// A [`Renew`] was refused; the text says why. The old login still holds until it expires.
    RenewRefused,
    #[serde(other)]
    Other,
}

/// Server to client, on channel 0: something the user should read now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub kind: NoticeKind,
    /// What to show, as a sentence (at most [`MAX_NOTICE_LEN`] bytes).
    pub text: String,
    /// When the link's login expires (Unix milliseconds), for the kinds about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// Client to server, on channel 0: a newer token of the same user for this link.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renew {
    /// The bearer token (at most [`MAX_TOKEN_LEN`] bytes).
    pub token: String,
}

/// The token is a secret: never in a log line or a debug print.
impl std::fmt::Debug for Renew {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renew").finish_non_exhaustive()
    }
}

//! Small enumerations that travel inside frames.
//!
//! Each has a fixed numeric encoding. Unknown error codes decode to [`ErrorCode::Other`] so that a
//! newer peer's reason still reaches the user; unknown signals and exit-status tags are malformed.

use std::fmt;

/// Why a link, a channel or an open request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The peer broke the protocol (malformed frame, credit overrun, unexpected kind).
    Protocol,
    /// A frame exceeded [`crate::MAX_FRAME_LEN`].
    FrameTooLarge,
    /// No protocol version in common.
    VersionMismatch,
    /// Missing, wrong, expired or revoked credentials.
    Unauthorized,
    /// Authenticated, but not allowed.
    Forbidden,
    /// The named target does not exist.
    UnknownTarget,
    /// The target exists but its agent is not connected.
    TargetOffline,
    /// The agent could not start what was asked (unknown user, spawn failure...).
    SpawnFailed,
    /// The request is not supported by this peer.
    Unsupported,
    /// Too many channels open on this link.
    TooManyChannels,
    /// The peer is shutting down.
    Shutdown,
    /// The far end of a relayed channel went away (for example the agent's link dropped).
    PeerGone,
    /// Something failed inside the peer.
    Internal,
    /// A session limit ended the channel (idle timeout, maximum duration).
    SessionLimit,
    /// The session could not be recorded (the recording store is unreachable or failed), and
    /// the server is configured to refuse unrecorded sessions.
    RecordingUnavailable,
    /// The target could not connect to a forward's destination (refused, unreachable,
    /// unresolvable, or not allowed by the agent's configuration).
    ConnectFailed,
    /// A code this build does not know.
    Other(u16),
}

impl ErrorCode {
    pub fn to_u16(self) -> u16 {
        match self {
            ErrorCode::Protocol => 1,
            ErrorCode::FrameTooLarge => 2,
            ErrorCode::VersionMismatch => 3,
            ErrorCode::Unauthorized => 4,
            ErrorCode::Forbidden => 5,
            ErrorCode::UnknownTarget => 6,
            ErrorCode::TargetOffline => 7,
            ErrorCode::SpawnFailed => 8,
            ErrorCode::Unsupported => 9,
            ErrorCode::TooManyChannels => 10,
            ErrorCode::Shutdown => 11,
            ErrorCode::PeerGone => 12,
            ErrorCode::Internal => 13,
            ErrorCode::SessionLimit => 14,
            ErrorCode::RecordingUnavailable => 16,
            ErrorCode::ConnectFailed => 15,
            ErrorCode::Other(n) => n,
        }
    }

    pub fn from_u16(n: u16) -> Self {
        match n {
            1 => ErrorCode::Protocol,
            2 => ErrorCode::FrameTooLarge,
            3 => ErrorCode::VersionMismatch,
            4 => ErrorCode::Unauthorized,
            5 => ErrorCode::Forbidden,
            6 => ErrorCode::UnknownTarget,
            7 => ErrorCode::TargetOffline,
            8 => ErrorCode::SpawnFailed,
            9 => ErrorCode::Unsupported,
            10 => ErrorCode::TooManyChannels,
            11 => ErrorCode::Shutdown,
            12 => ErrorCode::PeerGone,
            13 => ErrorCode::Internal,
            14 => ErrorCode::SessionLimit,
            16 => ErrorCode::RecordingUnavailable,
            15 => ErrorCode::ConnectFailed,
            n => ErrorCode::Other(n),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorCode::Protocol => "protocol error",
            ErrorCode::FrameTooLarge => "frame too large",
            ErrorCode::VersionMismatch => "version mismatch",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::UnknownTarget => "unknown target",
            ErrorCode::TargetOffline => "target offline",
            ErrorCode::SpawnFailed => "spawn failed",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::TooManyChannels => "too many channels",
            ErrorCode::Shutdown => "shutting down",
            ErrorCode::PeerGone => "peer gone",
            ErrorCode::Internal => "internal error",
            ErrorCode::SessionLimit => "session limit reached",
            ErrorCode::RecordingUnavailable => "recording unavailable",
            ErrorCode::ConnectFailed => "connection failed",
            ErrorCode::Other(n) => return write!(f, "error {n}"),
        };
        f.write_str(s)
    }
}

/// A signal a user may send to a remote process. Linux numbers on the wire (USR1 = 10,
/// USR2 = 12); an agent on another platform maps them to its own signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    Hup,
    Int,
    Quit,
    Kill,
    Usr1,
    Usr2,
    Term,
}

impl Signal {
    pub const ALL: [Signal; 7] = [
        Signal::Hup,
        Signal::Int,
        Signal::Quit,
        Signal::Kill,
        Signal::Usr1,
        Signal::Usr2,
        Signal::Term,
    ];

    pub fn number(self) -> u8 {
        match self {
            Signal::Hup => 1,
            Signal::Int => 2,
            Signal::Quit => 3,
            Signal::Kill => 9,
            Signal::Usr1 => 10,
            Signal::Usr2 => 12,
            Signal::Term => 15,
        }
    }

    pub fn from_number(n: u8) -> Option<Self> {
        Signal::ALL.into_iter().find(|s| s.number() == n)
    }
}

/// How a remote process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal number.
    Signal(i32),
}

impl ExitStatus {
    /// The status a shell would report: the code, or 128 + the signal number.
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(s) => 128 + s,
        }
    }
}

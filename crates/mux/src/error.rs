//! Errors a mux user sees.

use thiserror::Error;
use wicket_proto::ErrorCode;

use crate::channel::Cut;

/// Why a link ended. Shared by every channel on it, so each can tell its user.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{reason}")]
pub struct LinkClosed {
    /// The code sent or received in the final error frame, if there was one.
    pub code: Option<ErrorCode>,
    pub reason: String,
    /// What happened, for a sentence that says so to a person ("the agent on web-1 stopped
    /// answering") instead of the transport's words.
    pub cause: LinkCause,
}

/// What ended a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkCause {
    /// Nothing arrived for the heartbeat's time: the peer is stopped, hung or cut off without
    /// a word (this side closed the link).
    Silent,
    /// The connection failed or ended without a closing `ERROR`: the peer's process died, or
    /// the network or a proxy dropped it.
    Lost,
    /// The peer closed the link with an `ERROR` on channel 0 ([`LinkClosed::code`] says why:
    /// `SHUTDOWN` when it is stopping).
    PeerClosed,
    /// This side closed it ([`crate::Mux::close`]), or the peer broke the protocol.
    Closed,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum MuxError {
    #[error("link closed: {0}")]
    LinkClosed(LinkClosed),
    #[error("channel closed by the peer")]
    ChannelClosed,
    #[error("open refused ({code}): {reason}")]
    Rejected { code: ErrorCode, reason: String },
    /// A caller's mistake, refused rather than left waiting for credit that cannot come.
    #[error("a ZDATA payload of {len} bytes is over half the peer's window")]
    ZDataTooLarge { len: usize },
    /// The channel whose data was being passed on was cut meanwhile
    /// ([`crate::ChannelReceiver::unless_cut`]).
    #[error("{}", .0.reason)]
    Cut(Cut),
}

impl From<Cut> for MuxError {
    fn from(c: Cut) -> Self {
        MuxError::Cut(c)
    }
}

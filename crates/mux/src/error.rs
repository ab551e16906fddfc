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

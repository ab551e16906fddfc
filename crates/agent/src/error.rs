//! Errors the agent reports to its operator.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AgentError {
    #[error("{0}")]
    Identity(String),
    #[error("enrolment refused: {0}")]
    Enrolment(String),
    #[error(transparent)]
    Dial(#[from] wicket_dial::DialError),
    #[error(transparent)]
    Api(#[from] wicket_dial::ApiError),
    #[error(transparent)]
    Tls(#[from] wicket_tls::TlsError),
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// The server refused the link in its handshake (`ERROR` on channel 0), saying why.
    #[error("the server refused the link ({code}): {reason}")]
    Refused {
        code: wicket_proto::ErrorCode,
        reason: String,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

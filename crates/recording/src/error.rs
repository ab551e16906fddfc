use thiserror::Error;

/// Why a recording could not be written, read or checked.
#[derive(Debug, Error)]
pub enum RecordingError {
    /// The object store failed or is unreachable.
    #[cfg(feature = "store")]
    #[error("recording store: {0}")]
    Store(#[from] object_store::Error),
    /// The store configuration is unusable.
    #[error("recording store configuration: {0}")]
    Config(String),
    /// A recording (or its manifest) is not valid asciicast v2 / JSON.
    #[error("malformed recording at line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    /// A stored chunk no longer decompresses (or would inflate beyond any real chunk): it
    /// was damaged or altered.
    #[error("recording chunk damaged or altered: {0}")]
    Damaged(String),
    /// No recording with that id.
    #[error("no recording for session {0}")]
    NotFound(String),
    /// The recorder stopped (its store failed earlier, or the session was finished).
    #[error("recorder closed: {0}")]
    Closed(String),
}

//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while creating, loading or using TLS material.
///
/// Variants carry the path or input involved so that an operator reading a startup
/// error knows which file to look at without re-running with debug logging.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading, writing or creating a file or directory failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What we were doing ("reading", "writing", "creating directory").
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// A PEM file is empty, malformed or holds the wrong kind of object.
    #[error("invalid PEM file {}: {reason}", path.display())]
    Pem {
        /// The file involved.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },

    /// The stored identity directory is in a state we refuse to repair automatically
    /// (for example a CA certificate without its key): regenerating the CA would
    /// silently invalidate every agent's pin.
    #[error("TLS identity in {}: {reason}", dir.display())]
    Identity {
        /// The identity directory.
        dir: PathBuf,
        /// What is wrong and what to do about it.
        reason: String,
    },

    /// A requested subject alternative name is neither an IP address nor a valid DNS name.
    #[error("invalid subject alternative name {san:?}: {reason}")]
    InvalidSan {
        /// The name as given.
        san: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A fingerprint string could not be parsed.
    #[error(
        "invalid certificate fingerprint {input:?}: expected a SHA-256 fingerprint as 64 hex \
         digits, optionally colon-separated (AA:BB:...) and optionally prefixed with \"sha256:\""
    )]
    InvalidFingerprint {
        /// The rejected input.
        input: String,
    },

    /// rcgen failed to generate a key or certificate.
    #[error("certificate generation failed: {0}")]
    CertGen(#[from] rcgen::Error),

    /// rustls rejected the configuration (e.g. a key that does not match the certificate).
    #[error("TLS configuration error: {0}")]
    Rustls(#[from] rustls::Error),

    /// The operating system trust store could not be used.
    #[error("system trust store: {0}")]
    SystemRoots(String),
}

impl TlsError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn pem(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Pem {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

//! [`Error`]: why a copy failed, in words for the person who asked for it.

use std::io;
use std::path::PathBuf;

use wicket_proto::copy::CopyError;

/// Why a send or a receive failed. The text (with [`report`], which adds the causes) is what the
/// user reads, on the laptop or sent back from the target in the verdict, so it names the path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory operation failed; `doing` says which, on which path
    /// ("cannot write in /srv").
    #[error("{doing}")]
    File {
        doing: String,
        #[source]
        source: io::Error,
    },
    /// Writing the copy stream failed: for the CLI, the channel closed (`BrokenPipe`).
    #[error("writing the copy stream")]
    Write(#[source] io::Error),
    /// Reading the copy stream failed.
    #[error("reading the copy stream")]
    Read(#[source] io::Error),
    /// What was asked cannot be copied: a directory without `-r`, a special file, a name that is
    /// not UTF-8, a directory where a file goes or the reverse.
    #[error("{0}")]
    Unsupported(String),
    /// A file or directory changed while it was being sent (went away, shrank).
    #[error("{0}")]
    Changed(String),
    /// The records do not decode.
    #[error(transparent)]
    Decode(#[from] CopyError),
    /// The records decode but break the stream's rules (order, nesting, a second root).
    #[error("{0}")]
    Malformed(String),
    /// The stream ended before its `End` record.
    #[error("the copy stream ended early (the sender stopped)")]
    Truncated,
    /// A file's content does not match the sender's SHA-256; nothing was written under its name.
    #[error(
        "{}: checksum mismatch (sender SHA-256 {expected}, received {got}); nothing written",
        path.display()
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        got: String,
    },
    /// The other side failed and sent its reason.
    #[error("{0}")]
    Remote(String),
    /// The receiver went away without a verdict.
    #[error("the other side ended without confirming the copy")]
    NoVerdict,
    /// The copy was stopped through [`crate::Cancel`] (Ctrl-C).
    #[error("the copy was cancelled")]
    Cancelled,
}

impl Error {
    /// A failed file operation, `doing` what on which path.
    pub(crate) fn file(doing: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let doing = doing.into();
        move |source| Error::File { doing, source }
    }
}

/// `e` and its causes on one line, `: ` between them ("cannot write in /srv: Permission
/// denied"), as `anyhow` shows a chain with `{:#}`.
pub fn report(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

//! A process on a pseudo-terminal, and the two halves of its master side.
//!
//! The halves drive the master descriptor through `wicket_fd` rather than `pty-process`'s
//! async wrapper, for the sake of each keystroke (docs/PERFORMANCE.md): the reader is
//! registered for readability only and treats a short read as "drained", the writer writes
//! straight to the terminal and registers for writability only while the terminal's input
//! is full. Registered for both for good, the master woke the agent once more after every
//! keystroke it took.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use super::ProcessControl;

/// A process running on a PTY; see [`PtyProcess::into_parts`].
#[derive(Debug)]
pub struct PtyProcess {
    pub(crate) reader: PtyReader,
    pub(crate) writer: PtyWriter,
    pub(crate) control: ProcessControl,
}

impl PtyProcess {
    /// Splits into the terminal's output (read it until end-of-file), its
    /// input, and the control handle. The halves can live in different tasks.
    pub fn into_parts(self) -> (PtyReader, PtyWriter, ProcessControl) {
        (self.reader, self.writer, self.control)
    }

    /// The control handle, without splitting.
    pub fn control(&self) -> &ProcessControl {
        &self.control
    }
}

/// Output side of the PTY master ([`tokio::io::AsyncRead`]): everything the session's
/// processes write to the terminal. Once every process has closed the terminal, Linux fails
/// reads on the master with `EIO`; the reader reports that as end-of-file, after the output
/// written just before. The master must be non-blocking.
pub type PtyReader = wicket_fd::Reader<Arc<OwnedFd>>;

/// Input side of the PTY master ([`tokio::io::AsyncWrite`]): what the user types. Flush and
/// shutdown do nothing (a terminal has no half-close: write `^D` to end its input). Writing
/// after every process has closed the terminal fails with [`std::io::ErrorKind::BrokenPipe`].
pub type PtyWriter = wicket_fd::Writer<Arc<OwnedFd>>;

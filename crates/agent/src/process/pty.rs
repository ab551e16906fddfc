//! A process on a pseudo-terminal, and the two halves of its master side.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use nix::errno::Errno;
use pty_process::{OwnedReadPty, OwnedWritePty};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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

/// Output side of the PTY master ([`AsyncRead`]).
///
/// Returns everything the session's processes write to the terminal. Once
/// every process has closed the terminal, Linux makes reads on the master fail
/// with `EIO`; this reader reports that as end-of-file (a read of 0 bytes),
/// and keeps doing so. Output written just before the processes exited is
/// returned before that end-of-file.
#[derive(Debug)]
pub struct PtyReader {
    inner: OwnedReadPty,
    eof: bool,
}

impl PtyReader {
    pub(crate) fn new(inner: OwnedReadPty) -> Self {
        Self { inner, eof: false }
    }
}

impl AsyncRead for PtyReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.eof {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Err(e)) if e.raw_os_error() == Some(Errno::EIO as i32) => {
                self.eof = true;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(())) => {
                if buf.filled().len() == before && buf.remaining() > 0 {
                    self.eof = true;
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

/// Input side of the PTY master ([`AsyncWrite`]): what the user types.
///
/// Flush is a no-op (writes go straight to the terminal) and so is shutdown:
/// a terminal has no half-close; write `^D` (`0x04`) to send end-of-input.
/// Writing after the terminal has been closed by every process fails with
/// [`io::ErrorKind::BrokenPipe`].
#[derive(Debug)]
pub struct PtyWriter {
    inner: Arc<Mutex<OwnedWritePty>>,
}

impl PtyWriter {
    pub(crate) fn new(inner: Arc<Mutex<OwnedWritePty>>) -> Self {
        Self { inner }
    }
}

fn poisoned() -> io::Error {
    io::Error::other("pty writer lock poisoned")
}

impl AsyncWrite for PtyWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // The lock is shared only with `ProcessControl::resize`; it is held
        // for one non-blocking write attempt, never across a wait.
        let mut guard = match self.inner.lock() {
            Ok(guard) => guard,
            Err(_) => return Poll::Ready(Err(poisoned())),
        };
        match Pin::new(&mut *guard).poll_write(cx, buf) {
            Poll::Ready(Err(e)) if e.raw_os_error() == Some(Errno::EIO as i32) => {
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the terminal has been closed by the session's processes",
                )))
            }
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

//! A process on a pseudo-terminal, and the two halves of its master side.
//!
//! The halves drive the master descriptor themselves rather than through `pty-process`'s
//! async wrapper, for the sake of each keystroke (docs/PERFORMANCE.md): the reader is
//! registered for readability only and treats a short read as "drained" instead of reading
//! again to hear `EAGAIN`, and it reads into uninitialised memory instead of zeroing its
//! buffer first; the writer writes straight to the terminal and registers for writability
//! only while the terminal's input is full (and a second after). Registered for both for
//! good, the master woke the agent once more after every keystroke it took.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

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

/// Registers `fd` (non-blocking) with the reactor for `interest`.
#[allow(unsafe_code)]
fn register<T: AsRawFd>(fd: T, interest: Interest) -> io::Result<AsyncFd<T>> {
    // SAFETY: the `AsyncFd` owns `fd` (an `OwnedFd`, or an `Arc` of one whose other holders
    // never close it) for the whole life of the registration.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(io::Error::from)
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
    fd: AsyncFd<Arc<OwnedFd>>,
    eof: bool,
}

impl PtyReader {
    /// `master` must be non-blocking.
    pub(crate) fn new(master: Arc<OwnedFd>) -> io::Result<Self> {
        Ok(Self {
            fd: register(master, Interest::READABLE)?,
            eof: false,
        })
    }
}

/// One read(2) into the unfilled part of `buf`, without zeroing it first. Returns whether
/// the read filled all the space it was given.
#[allow(unsafe_code)]
fn read_uninit(fd: &OwnedFd, buf: &mut ReadBuf<'_>) -> io::Result<bool> {
    // SAFETY: read(2) writes at most `dst.len()` bytes into `dst`, never reads from it, and
    // we mark as initialised only the `n` bytes it reports having written.
    unsafe {
        let dst = buf.unfilled_mut();
        let space = dst.len();
        let n = nix::libc::read(fd.as_raw_fd(), dst.as_mut_ptr().cast(), space);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.assume_init(n as usize);
        buf.advance(n as usize);
        Ok(n as usize == space)
    }
}

impl AsyncRead for PtyReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.eof || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let this = &mut *self;
        let before = buf.filled().len();
        loop {
            let mut guard = ready!(this.fd.poll_read_ready(cx))?;
            match guard.try_io(|fd| read_uninit(fd.get_ref(), buf)) {
                Ok(Ok(full)) => {
                    if !full {
                        // The master hands over what it holds: a short read emptied it, and
                        // more output comes with a new edge from epoll. A read of nothing
                        // is the end of the terminal.
                        guard.clear_ready();
                    }
                    if buf.filled().len() == before {
                        this.eof = true;
                    }
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if e.raw_os_error() == Some(Errno::EIO as i32) => {
                    this.eof = true;
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
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
    master: Arc<OwnedFd>,
    /// A duplicate of the master registered for writability while the terminal's input is
    /// full (a program that does not read it, a large paste), and when a write last blocked.
    waiter: Option<(AsyncFd<OwnedFd>, Instant)>,
}

/// How long the registration outlives the last write that blocked: a paste larger than the
/// terminal's buffer blocks every few kilobytes, and registering anew each time would cost
/// four system calls per buffer-full.
const KEEP_REGISTERED: Duration = Duration::from_secs(1);

impl PtyWriter {
    /// `master` must be non-blocking.
    pub(crate) fn new(master: Arc<OwnedFd>) -> Self {
        Self {
            master,
            waiter: None,
        }
    }
}

fn write_fd(fd: &OwnedFd, data: &[u8]) -> io::Result<usize> {
    match nix::unistd::write(fd, data) {
        Ok(n) => Ok(n),
        Err(Errno::EIO) => Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the terminal has been closed by the session's processes",
        )),
        Err(e) => Err(e.into()),
    }
}

impl AsyncWrite for PtyWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        loop {
            let Some((waiter, blocked_at)) = &mut this.waiter else {
                match write_fd(&this.master, data) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        let dup = this.master.try_clone()?;
                        this.waiter = Some((register(dup, Interest::WRITABLE)?, Instant::now()));
                        continue;
                    }
                    done => return Poll::Ready(done),
                }
            };
            let mut guard = ready!(waiter.poll_write_ready(cx))?;
            match guard.try_io(|fd| write_fd(fd.get_ref(), data)) {
                Ok(done) => {
                    if blocked_at.elapsed() > KEEP_REGISTERED {
                        this.waiter = None;
                    }
                    return Poll::Ready(done);
                }
                Err(_would_block) => *blocked_at = Instant::now(),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

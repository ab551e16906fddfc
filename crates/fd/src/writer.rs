//! [`Writer`]: the write half.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncWrite, Interest};

/// Writes a non-blocking terminal, pipe or PTY master ([`AsyncWrite`]).
///
/// Every write goes straight to the kernel, so flush has nothing to do; neither has shutdown
/// (a terminal has no half-close: write `^D` to end its input; a pipe ends when the writer is
/// dropped). Writing to a terminal that every process has closed fails with
/// [`io::ErrorKind::BrokenPipe`].
#[derive(Debug)]
pub struct Writer<T: AsFd> {
    fd: T,
    /// A duplicate of `fd` registered for writability while writes block, and when one last
    /// blocked.
    waiter: Option<(AsyncFd<OwnedFd>, Instant)>,
}

/// How long the registration outlives the last write that blocked. Output faster than its
/// reader, or a paste larger than the terminal's buffer, blocks every few kilobytes, and
/// registering anew each time would add four system calls per buffer-full.
const KEEP_REGISTERED: Duration = Duration::from_secs(1);

impl<T: AsFd> Writer<T> {
    /// `fd` must be non-blocking.
    pub fn new(fd: T) -> Self {
        Writer { fd, waiter: None }
    }
}

fn write_fd(fd: impl AsFd, data: &[u8]) -> io::Result<usize> {
    match nix::unistd::write(fd, data) {
        Ok(n) => Ok(n),
        Err(Errno::EIO) => Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the terminal has been closed",
        )),
        Err(e) => Err(e.into()),
    }
}

impl<T: AsFd + Unpin> AsyncWrite for Writer<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        loop {
            let Some((waiter, blocked_at)) = &mut this.waiter else {
                match write_fd(this.fd.as_fd(), data) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        let dup = this.fd.as_fd().try_clone_to_owned()?;
                        let waiter = crate::register(dup, Interest::WRITABLE)?;
                        this.waiter = Some((waiter, Instant::now()));
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

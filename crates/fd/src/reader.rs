//! [`Reader`]: the read half.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, Interest, ReadBuf};

/// Reads a non-blocking terminal, pipe or PTY master ([`AsyncRead`]).
///
/// End of input is a read of nothing, and so is `EIO`: Linux fails reads on a PTY master once
/// every process has closed the terminal (output written just before is still returned
/// first), and on a terminal that hung up. Once at the end, every later read is the end too.
#[derive(Debug)]
pub struct Reader<T: AsRawFd> {
    fd: AsyncFd<T>,
    eof: bool,
    /// A read that returns less than it was given emptied the descriptor. Not so for a
    /// terminal in canonical mode, which returns one line per read.
    short_read_drains: bool,
}

impl<T: AsFd + AsRawFd> Reader<T> {
    /// `fd` must be non-blocking. A terminal must be in raw mode (see [`Reader::new_lines`]).
    pub fn new(fd: T) -> io::Result<Self> {
        Self::with(fd, true)
    }

    /// For a terminal in canonical mode (cooked: the line discipline edits and hands over one
    /// line per read, so three pasted lines take three reads). It reads until the terminal
    /// says it would block, one system call more per line than [`Reader::new`].
    pub fn new_lines(fd: T) -> io::Result<Self> {
        Self::with(fd, false)
    }

    fn with(fd: T, short_read_drains: bool) -> io::Result<Self> {
        Ok(Reader {
            fd: crate::register(fd, Interest::READABLE)?,
            eof: false,
            short_read_drains,
        })
    }
}

/// One read(2) into the unfilled part of `buf`, without zeroing it first: `ReadBuf::
/// initialize_unfilled` would memset the whole free space (64 KiB from the pumps) once per
/// keystroke. Returns whether the read filled all the space it was given.
#[allow(unsafe_code)]
fn read_uninit(fd: &impl AsRawFd, buf: &mut ReadBuf<'_>) -> io::Result<bool> {
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

impl<T: AsRawFd + Unpin> AsyncRead for Reader<T> {
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
                    if !full && this.short_read_drains {
                        // A terminal, pipe or master hands over what it holds: a short read
                        // emptied it, and the next byte comes with a new edge from epoll.
                        guard.clear_ready();
                    }
                    this.eof = buf.filled().len() == before;
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if e.raw_os_error() == Some(nix::libc::EIO) => {
                    this.eof = true;
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

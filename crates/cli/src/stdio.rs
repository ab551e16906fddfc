//! Stdin and stdout for the data path, read and written on the runtime's own thread.
//!
//! `tokio::io::stdin`/`stdout` hand every read and write to the blocking thread pool: a
//! thread switch each way per keystroke, and a lock shared with the pool under bulk output.
//! When stdin or stdout is a terminal or a pipe we instead open it again through
//! `/proc/self/fd/N` with `O_NONBLOCK` and poll it with epoll. Opening again makes a new open
//! file description, so the non-blocking flag stays ours: the shell that started us, which
//! shares the original descriptions, never sees it. Anything else (a regular file, a socket,
//! `/dev/null`, no `/proc`) falls back to tokio's.
//!
//! Every system call and every wake-up counts on a keystroke's path (docs/PERFORMANCE.md), so
//! stdin is registered for readability only, a short read tells the reactor the descriptor is
//! drained instead of reading again to hear `EAGAIN`, and stdout is not registered at all until
//! a write would block: a terminal or pipe registered for writability wakes the process after
//! every write it drains, for nothing.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Writes command output (tables, JSON) to stdout. When the reader has gone (`| head`, `grep
/// -q`), the process exits with status 0, as Unix filters do; `println!` would panic on the
/// broken pipe. Any other write error ends the process with status 1 and a message.
pub fn out(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("wicket: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Standard input.
pub enum Stdin {
    Direct(AsyncFd<File>),
    Pool(tokio::io::Stdin),
}

/// Standard output.
pub enum Stdout {
    Direct(Unregistered),
    Pool(tokio::io::Stdout),
    /// A duplicate of descriptor 1 (see [`stdout_owned`]), through the pool.
    Owned(tokio::fs::File),
}

pub fn stdin() -> Stdin {
    match reopen(0, false).and_then(|f| register(f, Interest::READABLE)) {
        Some(fd) => Stdin::Direct(fd),
        None => Stdin::Pool(tokio::io::stdin()),
    }
}

pub fn stdout() -> Stdout {
    match reopen(1, true) {
        Some(file) => Stdout::Direct(Unregistered::new(file)),
        None => Stdout::Pool(tokio::io::stdout()),
    }
}

/// Stdout that this process alone holds: descriptor 1 is closed, so dropping what this
/// returns closes the pipe and its reader (ssh, for `wicket proxy`) sees the end of the
/// stream while stdin may still be open.
pub fn stdout_owned() -> std::io::Result<Stdout> {
    use std::os::fd::AsFd;
    let out = match reopen(1, true) {
        Some(file) => Stdout::Direct(Unregistered::new(file)),
        None => {
            let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
            Stdout::Owned(tokio::fs::File::from_std(File::from(fd)))
        }
    };
    let _ = nix::unistd::close(1);
    Ok(out)
}

/// Opens descriptor `fd` again, non-blocking, if it is a terminal or a pipe.
fn reopen(fd: i32, write: bool) -> Option<File> {
    let path = format!("/proc/self/fd/{fd}");
    let kind = std::fs::metadata(&path).ok()?.file_type();
    let tty = nix::unistd::isatty(fd).unwrap_or(false);
    if !(tty || kind.is_fifo()) {
        return None;
    }
    OpenOptions::new()
        .read(!write)
        .write(write)
        // O_NOCTTY: opening a terminal must never make it our controlling terminal.
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(&path)
        .ok()
}

/// Registers `file` with the reactor for `interest`; `None` for what epoll refuses.
#[allow(unsafe_code)]
fn register(file: File, interest: Interest) -> Option<AsyncFd<File>> {
    // SAFETY: the `File` is owned by the `AsyncFd` for its whole life, so its descriptor
    // stays open and names the same description until the registration is dropped.
    unsafe { AsyncFd::register_with_interest(file, interest) }.ok()
}

/// Reads into the unfilled part of `buf` without zeroing it first. `ReadBuf::
/// initialize_unfilled` would memset the whole free space (64 KiB from the stdin pumps) on
/// every read, once per keystroke: the largest user-space cost of an echo in the CLI. Returns
/// whether the read filled all the space it was given (if not, the descriptor is drained).
#[allow(unsafe_code)]
fn read_uninit(file: &File, buf: &mut ReadBuf<'_>) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: read(2) writes at most `dst.len()` bytes into `dst`, never reads from it, and we
    // mark as initialized only the `n` bytes it reports having written.
    unsafe {
        let dst = buf.unfilled_mut();
        let space = dst.len();
        let n = nix::libc::read(file.as_raw_fd(), dst.as_mut_ptr().cast(), space);
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        buf.assume_init(n as usize);
        buf.advance(n as usize);
        Ok(n as usize == space)
    }
}

impl AsyncRead for Stdin {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stdin::Pool(s) => Pin::new(s).poll_read(cx, buf),
            Stdin::Direct(fd) => loop {
                let mut guard = ready!(fd.poll_read_ready(cx))?;
                match guard.try_io(|f| read_uninit(f.get_ref(), buf)) {
                    Ok(Ok(full)) => {
                        // A terminal or pipe returns what it holds: a short read emptied it,
                        // and its next byte will come with a new edge from epoll. (End of
                        // input is a short read too; the caller stops there anyway.)
                        if !full {
                            guard.clear_ready();
                        }
                        return Poll::Ready(Ok(()));
                    }
                    // A terminal that hung up reads as EIO: that is its end of input.
                    Ok(Err(e)) if e.raw_os_error() == Some(nix::libc::EIO) => {
                        return Poll::Ready(Ok(()))
                    }
                    Ok(Err(e)) => return Poll::Ready(Err(e)),
                    Err(_would_block) => continue,
                }
            },
        }
    }
}

impl AsyncWrite for Stdout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stdout::Pool(s) => Pin::new(s).poll_write(cx, data),
            Stdout::Owned(f) => Pin::new(f).poll_write(cx, data),
            Stdout::Direct(out) => out.poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stdout::Pool(s) => Pin::new(s).poll_flush(cx),
            Stdout::Owned(f) => Pin::new(f).poll_flush(cx),
            // Nothing is buffered: every write went to the kernel.
            Stdout::Direct(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stdout::Pool(s) => Pin::new(s).poll_shutdown(cx),
            Stdout::Owned(f) => Pin::new(f).poll_shutdown(cx),
            Stdout::Direct(_) => Poll::Ready(Ok(())),
        }
    }
}

/// A non-blocking descriptor written directly, and registered with the reactor only while
/// writes block (a full pipe, a terminal whose user pressed ^S): registered for good, every
/// write the terminal drains would wake the process for nothing.
pub struct Unregistered {
    file: File,
    /// A duplicate of `file` registered for writability, and when a write last blocked.
    waiter: Option<(AsyncFd<File>, Instant)>,
}

/// How long the registration outlives the last write that blocked. Output faster than its
/// reader blocks every few writes, and registering and dropping each time would add four
/// system calls per pipe-full; a second after the flood it is dropped.
const KEEP_REGISTERED: Duration = Duration::from_secs(1);

impl Unregistered {
    fn new(file: File) -> Self {
        Unregistered { file, waiter: None }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        loop {
            let Some((waiter, blocked_at)) = &mut self.waiter else {
                match (&self.file).write(data) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        let dup = self.file.try_clone()?;
                        let fd = register(dup, Interest::WRITABLE).ok_or_else(|| {
                            std::io::Error::other("stdout cannot be polled for writability")
                        })?;
                        self.waiter = Some((fd, Instant::now()));
                        continue;
                    }
                    done => return Poll::Ready(done),
                }
            };
            let mut guard = ready!(waiter.poll_write_ready(cx))?;
            match guard.try_io(|f| f.get_ref().write(data)) {
                Ok(done) => {
                    if blocked_at.elapsed() > KEEP_REGISTERED {
                        self.waiter = None;
                    }
                    return Poll::Ready(done);
                }
                Err(_would_block) => *blocked_at = Instant::now(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A pipe opened again through /proc reads and writes the same pipe, and the original
    /// descriptor keeps blocking mode.
    #[tokio::test]
    async fn a_pipe_opened_again_is_the_same_pipe() {
        let (r, w) = nix::unistd::pipe().unwrap();
        use std::os::fd::AsRawFd;
        let Some((mut input, mut out)) = direct_pair(&r, &w) else {
            return; // no /proc here
        };
        out.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        input.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        let flags = nix::fcntl::fcntl(w.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
        assert_eq!(
            flags & nix::libc::O_NONBLOCK,
            0,
            "the original became non-blocking"
        );
    }

    /// Stdout written faster than its reader drains it: the writes that would block wait for
    /// room (registering only then) and every byte arrives in order; reads short of the
    /// buffer do not lose the bytes that come after them.
    #[tokio::test]
    async fn a_full_pipe_waits_for_room_and_loses_nothing() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let Some((mut input, mut out)) = direct_pair(&r, &w) else {
            return;
        };
        let sent: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let expected = sent.clone();
        let writer = tokio::spawn(async move {
            for chunk in sent.chunks(100_000) {
                out.write_all(chunk).await.unwrap();
            }
        });
        let mut got = Vec::new();
        let mut buf = vec![0u8; 7000];
        while got.len() < expected.len() {
            let n = input.read(&mut buf).await.unwrap();
            assert!(n > 0, "the pipe ended early");
            got.extend_from_slice(&buf[..n]);
            if got.len() % 3 == 0 {
                tokio::time::sleep(std::time::Duration::from_micros(200)).await;
            }
        }
        writer.await.unwrap();
        assert!(got == expected, "the bytes differ");
    }

    /// Both ends of a pipe opened again the way stdin and stdout are.
    fn direct_pair(r: &std::os::fd::OwnedFd, w: &std::os::fd::OwnedFd) -> Option<(Stdin, Stdout)> {
        use std::os::fd::AsRawFd;
        let out = Stdout::Direct(Unregistered::new(reopen(w.as_raw_fd(), true)?));
        let input = register(reopen(r.as_raw_fd(), false)?, Interest::READABLE)?;
        Some((Stdin::Direct(input), out))
    }

    #[test]
    fn a_regular_file_is_left_to_tokio() {
        use std::os::fd::AsRawFd;
        let f = tempfile_like();
        assert!(reopen(f.as_raw_fd(), false).is_none());
    }

    fn tempfile_like() -> File {
        let path = std::env::temp_dir().join(format!("wicket-stdio-{}", std::process::id()));
        let f = File::create(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        f
    }
}

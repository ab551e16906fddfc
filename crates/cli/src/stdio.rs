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
//! Every system call and every wake-up counts on a keystroke's path (docs/PERFORMANCE.md): the
//! reopened descriptors are driven by `wicket_fd`, which registers stdin for readability only
//! and stdout not at all until a write would block.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Writes command output (tables, JSON, messages) to stdout, through the one sanitiser
/// ([`wicket_proto::text::display_lines`]): names, commands, tags, reasons and file names come
/// from the network, and an escape sequence among them must not write to the user's clipboard,
/// retitle the window or hide lines. A live session's and a replay's output are the only bytes
/// that reach the terminal raw, and they do not come through here.
///
/// When the reader has gone (`| head`, `grep -q`), the process exits with status 0, as Unix
/// filters do; `println!` would panic on the broken pipe. Any other write error ends the
/// process with status 1 and a message.
pub fn out(args: std::fmt::Arguments<'_>) {
    let text = std::fmt::format(args);
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(wicket_proto::text::display_lines(&text).as_bytes()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        err(format_args!("wicket: cannot write to stdout: {e}\n"));
        std::process::exit(1);
    }
}

/// Writes a message to stderr through the same sanitiser as [`out`]; `errln!` and `err!`
/// call it. A failure to write to stderr is ignored: there is nowhere left to report it.
pub fn err(args: std::fmt::Arguments<'_>) {
    let text = std::fmt::format(args);
    let _ = std::io::stderr().write_all(wicket_proto::text::display_lines(&text).as_bytes());
}

/// Writes terminal control of our own (the progress bar's carriage return and line erase) to
/// stderr. Nothing from the network may be passed here.
pub fn err_control(control: &'static str) {
    let _ = std::io::stderr().write_all(control.as_bytes());
}

/// Prints `value` as pretty JSON on stdout. serde_json escapes control characters; this also
/// writes DEL, C1 controls and the text-direction characters as `\uXXXX` escapes (still valid
/// JSON, and the same value to a parser), so a value read in a terminal cannot drive it.
pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, SafeJson::default());
    value.serialize(&mut ser)?;
    buf.push(b'\n');
    let text = String::from_utf8(buf)?;
    out(format_args!("{text}"));
    Ok(())
}

/// serde_json's pretty printer, with [`wicket_proto::text::is_unsafe`] characters escaped.
#[derive(Default)]
struct SafeJson(serde_json::ser::PrettyFormatter<'static>);

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $name<W: ?Sized + std::io::Write>(&mut self, w: &mut W $(, $arg: $ty)*) -> std::io::Result<()> {
            self.0.$name(w $(, $arg)*)
        }
    )*};
}

impl serde_json::ser::Formatter for SafeJson {
    delegate! {
        begin_array();
        end_array();
        begin_array_value(first: bool);
        end_array_value();
        begin_object();
        end_object();
        begin_object_key(first: bool);
        end_object_key();
        begin_object_value();
        end_object_value();
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if wicket_proto::text::is_unsafe(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;

    #[test]
    fn json_escapes_what_drives_a_terminal_and_stays_json() {
        let value =
            serde_json::json!({ "name": "a\u{1b}]52;c;x\u{7}\u{202e}b\u{9b}\u{7f}", "ok": "日本" });
        let mut buf = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, SafeJson::default());
        serde::Serialize::serialize(&value, &mut ser).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(
            !text
                .chars()
                .any(|c| c != '\n' && wicket_proto::text::is_unsafe(c)),
            "{text}"
        );
        assert!(text.contains("\\u202e") && text.contains("日本"), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }
}

/// Standard input.
pub enum Stdin {
    Direct(wicket_fd::Reader<File>),
    Pool(tokio::io::Stdin),
}

/// Standard output.
pub enum Stdout {
    Direct(wicket_fd::Writer<File>),
    Pool(tokio::io::Stdout),
    /// A duplicate of descriptor 1 (see [`stdout_owned`]), through the pool.
    Owned(tokio::fs::File),
}

pub fn stdin() -> Stdin {
    let reader = |f: File| {
        if cooked_terminal(&f) {
            wicket_fd::Reader::new_lines(f)
        } else {
            wicket_fd::Reader::new(f)
        }
    };
    match reopen(0, false)
        .or_else(|| already_nonblocking(0))
        .and_then(|f| reader(f).ok())
    {
        Some(fd) => Stdin::Direct(fd),
        None => Stdin::Pool(tokio::io::stdin()),
    }
}

pub fn stdout() -> Stdout {
    match reopen(1, true).or_else(|| already_nonblocking(1)) {
        Some(file) => Stdout::Direct(wicket_fd::Writer::new(file)),
        None => Stdout::Pool(tokio::io::stdout()),
    }
}

/// Stdout that this process alone holds: descriptor 1 is closed, so dropping what this
/// returns closes the pipe and its reader (ssh, for `wicket proxy`) sees the end of the
/// stream while stdin may still be open.
pub fn stdout_owned() -> std::io::Result<Stdout> {
    use std::os::fd::AsFd;
    let out = match reopen(1, true).or_else(|| already_nonblocking(1)) {
        Some(file) => Stdout::Direct(wicket_fd::Writer::new(file)),
        None => {
            let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
            Stdout::Owned(tokio::fs::File::from_std(File::from(fd)))
        }
    };
    let _ = nix::unistd::close(1);
    Ok(out)
}

/// A terminal in canonical mode (`wicket connect` without `-t` from an interactive shell):
/// its line discipline hands over one line per read, so a short read does not mean drained.
/// In raw mode (a `-t` session sets it before stdin is opened) a read returns all there is.
fn cooked_terminal(f: &File) -> bool {
    use nix::sys::termios::{tcgetattr, LocalFlags};
    tcgetattr(f).is_ok_and(|t| t.local_flags.contains(LocalFlags::ICANON))
}

/// Descriptor `fd` (0 or 1) duplicated, when whoever started us made it non-blocking already,
/// as rsync does with the socket it hands its remote shell (`-e 'wicket exec'`): the pool's
/// blocking reads and writes would fail on it with EAGAIN ("Resource temporarily
/// unavailable") once the socket fills, while epoll drives it as it drives a reopened pipe.
/// The description's flags are left as they were.
fn already_nonblocking(fd: i32) -> Option<File> {
    use std::os::fd::AsFd;
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL).ok()?;
    if flags & nix::libc::O_NONBLOCK == 0 {
        return None;
    }
    let owned = match fd {
        0 => std::io::stdin().as_fd().try_clone_to_owned(),
        1 => std::io::stdout().as_fd().try_clone_to_owned(),
        _ => return None,
    };
    owned.ok().map(File::from)
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

impl AsyncRead for Stdin {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stdin::Pool(s) => Pin::new(s).poll_read(cx, buf),
            Stdin::Direct(fd) => Pin::new(fd).poll_read(cx, buf),
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
            Stdout::Direct(out) => Pin::new(out).poll_write(cx, data),
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

    /// Both ends of a pipe opened again the way stdin and stdout are.
    fn direct_pair(r: &std::os::fd::OwnedFd, w: &std::os::fd::OwnedFd) -> Option<(Stdin, Stdout)> {
        use std::os::fd::AsRawFd;
        let out = Stdout::Direct(wicket_fd::Writer::new(reopen(w.as_raw_fd(), true)?));
        let input = wicket_fd::Reader::new(reopen(r.as_raw_fd(), false)?).ok()?;
        Some((Stdin::Direct(input), out))
    }

    /// A fresh terminal is cooked, one in raw mode is not, and a pipe is no terminal: which
    /// of `wicket_fd`'s readers stdin gets.
    #[test]
    fn a_cooked_terminal_is_told_from_a_raw_one() {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let pty = nix::pty::openpty(None, None).unwrap();
        let slave = File::from(pty.slave);
        assert!(cooked_terminal(&slave));
        let mut t = tcgetattr(&slave).unwrap();
        cfmakeraw(&mut t);
        tcsetattr(&slave, SetArg::TCSANOW, &t).unwrap();
        assert!(!cooked_terminal(&slave));
        let (r, _w) = nix::unistd::pipe().unwrap();
        assert!(!cooked_terminal(&File::from(r)));
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

//! Resizing, signalling and waiting for a session's process.

use std::fmt;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::sync::{Arc, OnceLock};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Child;

use super::{ProcessError, PtySize};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal number.
    Signal(i32),
}

impl ExitStatus {
    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        matches!(self, Self::Code(0))
    }

    /// The status as a shell reports it in `$?` (`128 + signal` for signals).
    pub fn shell_code(&self) -> i32 {
        match *self {
            Self::Code(code) => code,
            Self::Signal(sig) => 128 + sig,
        }
    }

    fn from_std(status: std::process::ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => Self::Code(code),
            (None, Some(sig)) => Self::Signal(sig),
            // `wait` only reports terminated children; keep the raw status.
            (None, None) => Self::Code(status.into_raw()),
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Code(code) => write!(f, "exit code {code}"),
            Self::Signal(sig) => match Signal::try_from(sig) {
                Ok(s) => write!(f, "killed by {s}"),
                Err(_) => write!(f, "killed by signal {sig}"),
            },
        }
    }
}

/// Control over a session's process: resize its terminal, signal it, wait for
/// it. Cheap to clone (an `Arc` inside), `Send + Sync`.
#[derive(Clone)]
pub struct ProcessControl {
    inner: Arc<Inner>,
}

pub(crate) enum Terminal {
    Pipes,
    Pty {
        /// The master, shared with the I/O halves: to resize the terminal and ask for its
        /// foreground group.
        master: Arc<OwnedFd>,
    },
}

struct Inner {
    pid: Pid,
    terminal: Terminal,
    child: tokio::sync::Mutex<Child>,
    status: OnceLock<ExitStatus>,
}

impl fmt::Debug for ProcessControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessControl")
            .field("pid", &self.inner.pid.as_raw())
            .field("pty", &self.is_pty())
            .field("status", &self.inner.status.get())
            .finish()
    }
}

impl ProcessControl {
    pub(crate) fn new(child: Child, pid: Pid, terminal: Terminal) -> Self {
        Self {
            inner: Arc::new(Inner {
                pid,
                terminal,
                child: tokio::sync::Mutex::new(child),
                status: OnceLock::new(),
            }),
        }
    }

    /// The child's pid (also its process group id, and on a PTY its session id).
    pub fn pid(&self) -> u32 {
        self.inner.pid.as_raw().unsigned_abs()
    }

    /// Whether the process runs on a PTY.
    pub fn is_pty(&self) -> bool {
        matches!(self.inner.terminal, Terminal::Pty { .. })
    }

    /// Whether the terminal is reading a line without showing it: canonical mode with `ECHO`
    /// off, as `read -s`, sudo, passwd, ssh and `getpass` set it for a password. (Line
    /// editors and full-screen programs turn `ECHO` off too, but leave canonical mode and echo
    /// what is typed themselves.) `None` on pipes, or when the terminal cannot be asked. The
    /// master answers for the slave side (Linux applies termios requests on a PTY master to
    /// its slave), so this sees what the program set.
    pub fn hides_input(&self) -> Option<bool> {
        use nix::sys::termios::{tcgetattr, LocalFlags};
        match &self.inner.terminal {
            Terminal::Pipes => None,
            Terminal::Pty { master } => tcgetattr(master.as_ref()).ok().map(|t| {
                t.local_flags.contains(LocalFlags::ICANON)
                    && !t.local_flags.contains(LocalFlags::ECHO)
            }),
        }
    }

    /// The exit status, if [`wait`](Self::wait) has already seen it.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.inner.status.get().copied()
    }

    /// Changes the terminal size (the kernel sends `SIGWINCH` to the
    /// foreground job). A no-op for pipes.
    pub fn resize(&self, size: PtySize) -> Result<(), ProcessError> {
        match &self.inner.terminal {
            Terminal::Pipes => Ok(()),
            Terminal::Pty { master } => {
                set_window_size(master, size).map_err(|source| ProcessError::Pty {
                    action: "resizing the terminal",
                    source,
                })
            }
        }
    }

    /// Sends `sig` to the child's process group and, on a PTY, also to the
    /// terminal's foreground process group (the job the user is running, as
    /// if the signal came from the keyboard), once per distinct group.
    ///
    /// Groups that no longer exist are ignored (`Ok`). After the child has
    /// been reaped the signal still reaches what is left of its process group
    /// (background processes it started), if anything.
    pub fn signal(&self, sig: Signal) -> Result<(), ProcessError> {
        let own = self.inner.pid;
        let mut groups = vec![own];
        if let Terminal::Pty { master, .. } = &self.inner.terminal {
            if let Ok(fg) = nix::unistd::tcgetpgrp(master) {
                if fg.as_raw() > 1 && fg != own {
                    groups.push(fg);
                }
            }
        }
        let mut result = Ok(());
        for pgid in groups {
            match killpg(pgid, sig) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(source) => {
                    result = Err(ProcessError::Signal {
                        signal: sig,
                        pgid: pgid.as_raw(),
                        source,
                    });
                }
            }
        }
        result
    }

    /// Waits for the child to exit and reaps it.
    ///
    /// Cancel-safe and callable any number of times, from several tasks: all
    /// get the same status. Independent of the output halves (it never
    /// touches them), so it can run concurrently with the readers; note that
    /// output may still be pending when it returns (see the module docs).
    pub async fn wait(&self) -> Result<ExitStatus, ProcessError> {
        if let Some(status) = self.inner.status.get() {
            return Ok(*status);
        }
        let mut child = self.inner.child.lock().await;
        if let Some(status) = self.inner.status.get() {
            return Ok(*status);
        }
        let status = child.wait().await.map_err(|source| ProcessError::Wait {
            pid: self.inner.pid.as_raw(),
            source,
        })?;
        let status = ExitStatus::from_std(status);
        Ok(*self.inner.status.get_or_init(|| status))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.status.get().is_none() {
            // Abandoned without being waited for: don't leave the session's
            // processes behind. Tokio reaps the zombie in the background.
            tracing::debug!(
                pid = self.pid.as_raw(),
                "process control dropped before exit; killing its process group"
            );
            let _ = killpg(self.pid, Signal::SIGKILL);
        }
    }
}

nix::ioctl_write_ptr_bad!(tiocswinsz, nix::libc::TIOCSWINSZ, nix::libc::winsize);

/// `TIOCSWINSZ` on the master: the kernel sends `SIGWINCH` to the terminal's foreground job.
#[allow(unsafe_code)]
fn set_window_size(master: &OwnedFd, size: PtySize) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let ws = nix::libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `master` is an open descriptor for the call's length and `ws` a valid winsize
    // that the kernel only reads.
    unsafe { tiocswinsz(master.as_raw_fd(), &ws) }
        .map(drop)
        .map_err(std::io::Error::from)
}

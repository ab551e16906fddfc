//! Starting shells and commands for a session.
//!
//! [`spawn`] turns a [`SessionRequest`] into a running process, either on a
//! real pseudo-terminal ([`Spawned::Pty`]) or on three pipes with stdout and
//! stderr kept apart ([`Spawned::Pipes`]). Either way the caller gets the I/O
//! halves (usable from separate tasks) and a cheap, shareable
//! [`ProcessControl`] to resize the terminal, send signals and wait for the
//! exit status.
//!
//! # Semantics (modelled on sshd)
//!
//! * No command: the user's login shell, with `argv[0]` set to
//!   `-<basename>` (e.g. `-bash`). With a command: `<shell> -c <command>`.
//! * The environment is built from scratch: `PATH` (a sane default, see
//!   [`DEFAULT_PATH`]), then the request's variables, then `HOME`, `SHELL`,
//!   `USER`, `LOGNAME` (which the request cannot override) and, on a PTY,
//!   `TERM`. Nothing leaks from the agent's own environment.
//! * The working directory is the requested one, else the user's home, else `/`.
//! * Pipes: the child leads a new process group, so [`ProcessControl::signal`]
//!   reaches the command and everything it started.
//! * PTY: the child leads a new session with the PTY as its controlling
//!   terminal; signals go to the child's process group and to the terminal's
//!   foreground process group (the job the user is running).
//! * User switching: see [`resolve_run_as`].
//!
//! # What the caller must do
//!
//! * Read output until end-of-file **and** call [`ProcessControl::wait`];
//!   do both concurrently (a child blocked on a full output buffer never
//!   exits).
//! * On a PTY, end of output is signalled by the kernel with `EIO` once every
//!   process holding the terminal has gone; [`PtyReader`] reports that as a
//!   normal end-of-file (`Ok(0)`). Data written just before exit is still
//!   delivered before the end-of-file, so to get *all* output keep reading
//!   after `wait()` returns until the reader reports end-of-file. A process
//!   left running in the background that keeps the terminal (or a pipe) open
//!   delays end-of-file until it exits: bound the post-exit drain with a
//!   timeout if that matters.
//! * Send end-of-input on a PTY by writing `^D` (`0x04`) at the start of a
//!   line; a PTY has no half-close. On pipes, drop [`ChildStdin`].
//! * If the last [`ProcessControl`] is dropped before the child has been
//!   reaped, the child's process group is killed with `SIGKILL` and the
//!   zombie is reaped in the background.

mod control;
mod error;
mod pty;
mod spawn;
mod user;

pub use control::{ExitStatus, ProcessControl};
pub use error::ProcessError;
pub use pty::{PtyProcess, PtyReader, PtyWriter};
pub use spawn::{spawn, spawn_as, spawn_program_as, PipeProcess, Spawned};
pub use tokio::process::{ChildStderr, ChildStdin, ChildStdout};
pub use user::{own_user_name, resolve_run_as, RunAs, DEFAULT_PATH};

/// Terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PtySize {
    /// Columns (width).
    pub cols: u16,
    /// Rows (height).
    pub rows: u16,
}

/// What to start for a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionRequest {
    /// OS user name to run as; `None` means the agent's own user.
    pub run_as: Option<String>,
    /// `None`: the user's login shell. `Some`: run via the user's shell with
    /// `-c` (ssh semantics).
    pub command: Option<String>,
    /// `Some((TERM, size))`: run on a real PTY. `None`: pipes, with stdout and
    /// stderr kept apart.
    pub pty: Option<(String, PtySize)>,
    /// Extra environment variables, applied after the defaults.
    pub env: Vec<(String, String)>,
    /// Working directory to start in (as the run-as user); home, then `/`, when it is unset
    /// or unusable.
    pub cwd: Option<std::path::PathBuf>,
}

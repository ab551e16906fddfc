//! Errors of the process module.

use std::io;

use nix::sys::signal::Signal;

/// Why a process could not be started or controlled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The requested OS user does not exist.
    #[error("unknown user {name:?}")]
    UnknownUser {
        /// The requested user name.
        name: String,
    },
    /// The user database could not be queried.
    #[error("could not look up user {name:?}: {source}")]
    UserLookup {
        /// The user name (or uid) being looked up.
        name: String,
        /// The underlying error.
        source: nix::Error,
    },
    /// A login shell was asked for an account whose shell refuses logins.
    #[error(
        "account {user} has no login shell ({}): no interactive shell is started as it; \
         commands still run (after `--`)",
        shell.display()
    )]
    NoLoginShell {
        /// The account.
        user: String,
        /// Its shell (`/usr/sbin/nologin`, `/bin/false`).
        shell: std::path::PathBuf,
    },
    /// The agent is not root and was asked to run as someone else.
    #[error("the agent runs as {me} and cannot switch to user {requested}")]
    CannotSwitchUser {
        /// The agent's own user.
        me: String,
        /// The user that was asked for.
        requested: String,
    },
    /// A requested environment variable cannot be passed to a process.
    #[error("invalid environment variable {name:?}: {reason}")]
    InvalidEnv {
        /// The variable's name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Starting the program failed (fork/exec, or switching user in the child).
    #[error("failed to start {program}: {source}")]
    Spawn {
        /// The program that was to be started.
        program: String,
        /// The underlying error.
        source: io::Error,
    },
    /// Allocating or configuring the pseudo-terminal failed.
    #[error("pty failure while {action}: {source}")]
    Pty {
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// Sending a signal failed (other than because the processes are gone).
    #[error("failed to send {signal} to process group {pgid}: {source}")]
    Signal {
        /// The signal.
        signal: Signal,
        /// The process group it was sent to.
        pgid: i32,
        /// The underlying error.
        source: nix::Error,
    },
    /// Waiting for the child failed.
    #[error("failed to wait for process {pid}: {source}")]
    Wait {
        /// The child's pid.
        pid: i32,
        /// The underlying error.
        source: io::Error,
    },
    /// A background task used for blocking work failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Turns a `pty_process` error into an `io::Error`, keeping the errno.
pub(crate) fn pty_io(e: pty_process::Error) -> io::Error {
    match e {
        pty_process::Error::Io(e) => e,
        pty_process::Error::Rustix(errno) => io::Error::from_raw_os_error(errno.raw_os_error()),
        other => io::Error::other(other.to_string()),
    }
}

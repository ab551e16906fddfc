//! Building the command and starting it on a PTY or on pipes.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};

use nix::sys::stat::Mode;
use nix::sys::termios::{self, InputFlags, SetArg};
use nix::unistd::Pid;
use tokio::process::{ChildStderr, ChildStdin, ChildStdout, Command};

use super::control::Terminal;
use super::error::pty_io;
use super::user::{
    install_default_signals, install_user_switch, resolve_run_as, RunAs, DEFAULT_PATH,
};
use super::{ProcessControl, ProcessError, PtyProcess, PtyReader, PtyWriter, SessionRequest};

/// A started process.
#[derive(Debug)]
pub enum Spawned {
    /// On a PTY (the request had `pty: Some(..)`).
    Pty(PtyProcess),
    /// On pipes (the request had `pty: None`).
    Pipes(PipeProcess),
}

impl Spawned {
    /// The control handle.
    pub fn control(&self) -> &ProcessControl {
        match self {
            Self::Pty(p) => &p.control,
            Self::Pipes(p) => &p.control,
        }
    }
}

/// A process on pipes; see [`PipeProcess::into_parts`].
#[derive(Debug)]
pub struct PipeProcess {
    stdin: ChildStdin,
    stdout: ChildStdout,
    stderr: ChildStderr,
    control: ProcessControl,
}

impl PipeProcess {
    /// Splits into stdin (drop it to send end-of-input), stdout and stderr
    /// (read both until end-of-file, concurrently) and the control handle.
    pub fn into_parts(self) -> (ChildStdin, ChildStdout, ChildStderr, ProcessControl) {
        (self.stdin, self.stdout, self.stderr, self.control)
    }
}

/// Serialises PTY allocation and process creation in this module.
/// `pty-process` opens the PTY master without `O_CLOEXEC` and sets the flag
/// afterwards; a fork by another session in between would leak this session's
/// terminal into another user's process.
static SPAWN_LOCK: Mutex<()> = Mutex::new(());

fn spawn_lock() -> MutexGuard<'static, ()> {
    SPAWN_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts what `req` asks for, as `req.run_as` (see [`resolve_run_as`]).
///
/// The user lookup runs on a blocking thread. Errors: unknown user, not
/// allowed to switch user, invalid environment, PTY allocation failure, or the
/// spawn itself failing (including the credential switch in the child).
pub async fn spawn(req: &SessionRequest) -> Result<Spawned, ProcessError> {
    let requested = req.run_as.clone();
    let run_as = tokio::task::spawn_blocking(move || resolve_run_as(requested.as_deref()))
        .await
        .map_err(|e| ProcessError::Internal(format!("user lookup task failed: {e}")))??;
    spawn_as(req, &run_as).await
}

/// Like [`spawn`], with an already resolved user (`req.run_as` is ignored).
pub async fn spawn_as(req: &SessionRequest, run_as: &RunAs) -> Result<Spawned, ProcessError> {
    let cmd = build_command(req, run_as)?;
    match &req.pty {
        Some((_, size)) => spawn_pty(cmd, run_as, *size).map(Spawned::Pty),
        None => spawn_pipes(cmd, run_as).map(Spawned::Pipes),
    }
}

fn validate_env(name: &str, value: &str) -> Result<(), ProcessError> {
    let reason = if name.is_empty() {
        Some("empty name")
    } else if name.contains('=') {
        Some("name contains '='")
    } else if name.contains('\0') || value.contains('\0') {
        Some("contains a NUL byte")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ProcessError::InvalidEnv {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn build_command(req: &SessionRequest, run_as: &RunAs) -> Result<Command, ProcessError> {
    for (name, value) in &req.env {
        validate_env(name, value)?;
    }
    let shell = run_as.shell();
    let base = shell
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sh".to_owned());

    // An account that takes no logins gets no login shell; sshd refuses it too (its shell
    // prints "This account is currently not available" and exits).
    if let (None, Some(refusing)) = (&req.command, run_as.no_login_shell()) {
        return Err(ProcessError::NoLoginShell {
            user: run_as.name().to_owned(),
            shell: refusing.to_path_buf(),
        });
    }
    let mut cmd = Command::new(shell);
    match &req.command {
        None => {
            cmd.arg0(format!("-{base}"));
        }
        Some(command) => {
            cmd.arg0(&base).arg("-c").arg(command);
        }
    }

    cmd.env_clear();
    cmd.env("PATH", DEFAULT_PATH);
    cmd.envs(req.env.iter().map(|(k, v)| (k, v)));
    cmd.env("HOME", run_as.home())
        .env("SHELL", shell)
        .env("USER", run_as.name())
        .env("LOGNAME", run_as.name());
    if let Some((term, _)) = &req.pty {
        cmd.env("TERM", if term.is_empty() { "dumb" } else { term });
    }

    install_default_signals(&mut cmd);
    match run_as.groups() {
        Some(groups) => install_user_switch(&mut cmd, run_as, groups, req.cwd.as_deref()),
        None => {
            let home = run_as.home();
            let start = req.cwd.as_deref().filter(|d| d.is_dir());
            cmd.current_dir(start.unwrap_or(if home.is_dir() { home } else { Path::new("/") }));
        }
    }
    Ok(cmd)
}

fn spawn_error(run_as: &RunAs, source: std::io::Error) -> ProcessError {
    ProcessError::Spawn {
        program: format!("{} as user {}", run_as.shell().display(), run_as.name()),
        source,
    }
}

fn child_pid(child: &tokio::process::Child, run_as: &RunAs) -> Result<Pid, ProcessError> {
    child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw)
        .ok_or_else(|| spawn_error(run_as, std::io::Error::other("child has no pid")))
}

fn spawn_pipes(mut cmd: Command, run_as: &RunAs) -> Result<PipeProcess, ProcessError> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = {
        let _guard = spawn_lock();
        cmd.spawn().map_err(|e| spawn_error(run_as, e))?
    };
    let pid = child_pid(&child, run_as)?;
    let missing = || spawn_error(run_as, std::io::Error::other("child stdio pipe missing"));
    let stdin = child.stdin.take().ok_or_else(missing)?;
    let stdout = child.stdout.take().ok_or_else(missing)?;
    let stderr = child.stderr.take().ok_or_else(missing)?;
    Ok(PipeProcess {
        stdin,
        stdout,
        stderr,
        control: ProcessControl::new(child, pid, Terminal::Pipes),
    })
}

fn pty_error(action: &'static str) -> impl Fn(pty_process::Error) -> ProcessError {
    move |e| ProcessError::Pty {
        action,
        source: pty_io(e),
    }
}

fn spawn_pty(
    cmd: Command,
    run_as: &RunAs,
    size: super::PtySize,
) -> Result<PtyProcess, ProcessError> {
    let guard = spawn_lock();
    let (pty, pts) = pty_process::open().map_err(pty_error("allocating a pty"))?;
    pty.resize(pty_process::Size::new(size.rows, size.cols))
        .map_err(pty_error("setting the terminal size"))?;
    // UTF-8 aware line editing (erase removes a whole character).
    match termios::tcgetattr(&pts) {
        Ok(mut modes) => {
            modes.input_flags.insert(InputFlags::IUTF8);
            if let Err(e) = termios::tcsetattr(&pts, SetArg::TCSANOW, &modes) {
                tracing::debug!(error = %e, "could not set IUTF8 on the pty");
            }
        }
        Err(e) => tracing::debug!(error = %e, "could not read the pty's modes"),
    }

    if run_as.switches_user() {
        // Like login/sshd: the terminal belongs to the user it is for, so
        // that reopening it (tty, mesg, write) works.
        let fd = pts.as_raw_fd();
        if let Err(e) = nix::unistd::fchown(fd, Some(run_as.uid()), None)
            .and_then(|()| nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(0o620)))
        {
            tracing::warn!(user = run_as.name(), error = %e, "could not give the pty to the user");
        }
    }

    // `pty-process` makes the child a session leader with the PTY as
    // controlling terminal; that step runs after the credential switch
    // installed in `build_command`. `spawn` consumes `pts`, so the parent
    // keeps no handle on the terminal's slave side and the master sees EIO
    // once the session's processes are gone.
    let child = pty_process::Command::from(cmd)
        .spawn(pts)
        .map_err(|e| match e {
            pty_process::Error::Io(e) => spawn_error(run_as, e),
            other => pty_error("attaching the child to the pty")(other),
        })?;
    drop(guard);

    let pid = child_pid(&child, run_as)?;
    // Out of `pty-process`'s reactor registration (the halves make their own), still
    // non-blocking.
    let master = Arc::new(std::os::fd::OwnedFd::from(pty));
    let reader = PtyReader::new(Arc::clone(&master)).map_err(|source| ProcessError::Pty {
        action: "polling the pty",
        source,
    })?;
    Ok(PtyProcess {
        reader,
        writer: PtyWriter::new(Arc::clone(&master)),
        control: ProcessControl::new(child, pid, Terminal::Pty { master }),
    })
}

/// Starts `program args` on pipes as `run_as`, with a minimal environment (`PATH`, `HOME`,
/// `USER`, `LOGNAME`) and the user's home as working directory: the copy helper, whose file IO
/// must carry the user's credentials.
pub fn spawn_program_as(
    program: &Path,
    args: &[std::ffi::OsString],
    run_as: &RunAs,
) -> Result<PipeProcess, ProcessError> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd.env_clear();
    cmd.env("PATH", DEFAULT_PATH)
        .env("HOME", run_as.home())
        .env("USER", run_as.name())
        .env("LOGNAME", run_as.name());
    install_default_signals(&mut cmd);
    match run_as.groups() {
        Some(groups) => install_user_switch(&mut cmd, run_as, groups, None),
        None => {
            let home = run_as.home();
            cmd.current_dir(if home.is_dir() { home } else { Path::new("/") });
        }
    }
    spawn_pipes(cmd, run_as).map_err(|e| match e {
        ProcessError::Spawn { source, .. } => ProcessError::Spawn {
            program: format!("{} as user {}", program.display(), run_as.name()),
            source,
        },
        other => other,
    })
}

//! Who a session's process runs as, and the switch to that user in the child.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid, User};

use super::ProcessError;

/// `PATH` given to every session unless the request sets its own.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Shell used when the user's own is missing, unusable or a no-login shell.
const FALLBACK_SHELL: &str = "/bin/sh";

/// The resolved identity a process will run as.
///
/// Obtained from [`resolve_run_as`]; cannot be built by hand, so holding one
/// means the agent is allowed to start processes as that user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    name: String,
    uid: Uid,
    gid: Gid,
    home: PathBuf,
    shell: PathBuf,
    /// The account's own shell when it says the account takes no logins (`nologin`,
    /// `false`): commands still run (through `/bin/sh`), a login shell is refused.
    no_login: Option<PathBuf>,
    /// `Some(supplementary groups)` when the child must switch credentials
    /// (the agent is root); `None` when it simply inherits the agent's.
    switch_groups: Option<Vec<Gid>>,
}

impl RunAs {
    /// The user name (as in `USER` / `LOGNAME`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The user id.
    pub fn uid(&self) -> Uid {
        self.uid
    }

    /// The primary group id.
    pub fn gid(&self) -> Gid {
        self.gid
    }

    /// Home directory from the user database (`HOME`); it may not exist.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The shell that will be used (`SHELL`), after fallbacks.
    pub fn shell(&self) -> &Path {
        &self.shell
    }

    /// The account's shell, when it is a no-login shell (`/usr/sbin/nologin`, `/bin/false`):
    /// such an account gets no interactive login, as with sshd.
    pub fn no_login_shell(&self) -> Option<&Path> {
        self.no_login.as_deref()
    }

    /// Whether the child switches credentials (the agent runs as root).
    pub fn switches_user(&self) -> bool {
        self.switch_groups.is_some()
    }

    /// Supplementary groups set in the child, if it switches credentials.
    pub fn groups(&self) -> Option<&[Gid]> {
        self.switch_groups.as_deref()
    }
}

/// Resolves who a process runs as.
///
/// * Agent running as root: `requested` (or `root` when `None`) is looked up
///   in the user database; the child will set its supplementary groups (as
///   `initgroups` would, computed here with `getgrouplist`), then its gid,
///   then its uid, and change to the home directory (falling back to `/`).
/// * Agent not root: only its own user is allowed (`None` or its own name);
///   anything else is [`ProcessError::CannotSwitchUser`].
///
/// The shell is the user's login shell from the user database, except that a
/// missing, non-executable or no-login shell (`nologin`, `false`) is replaced
/// by `/bin/sh` for commands: whether someone may run a command as a user is
/// decided by the control plane's policy (like `sudo -u`). A no-login shell is
/// kept in [`RunAs::no_login_shell`], and an interactive login as that account
/// is refused (see [`super::spawn`]).
///
/// This may block on the user database (NSS); [`spawn`](super::spawn) runs it
/// on a blocking thread.
pub fn resolve_run_as(requested: Option<&str>) -> Result<RunAs, ProcessError> {
    let euid = Uid::effective();
    if euid.is_root() {
        let me = lookup_by_uid(euid)?.unwrap_or_else(root_fallback);
        let user = match requested {
            Some(name) if name != me.name => lookup_by_name(name)?,
            _ => me,
        };
        let groups = supplementary_groups(&user);
        Ok(from_user(user, Some(groups)))
    } else {
        let me = match lookup_by_uid(euid)? {
            Some(user) => user,
            None => nameless_self(euid),
        };
        match requested {
            Some(name) if name != me.name => Err(ProcessError::CannotSwitchUser {
                me: me.name,
                requested: name.to_owned(),
            }),
            _ => Ok(from_user(me, None)),
        }
    }
}

/// Who a session runs as when no one is named: the agent's own user. Reported in the
/// inventory, so that the server can put the real run-as user before the policy.
pub fn own_user_name() -> String {
    let euid = Uid::effective();
    match lookup_by_uid(euid) {
        Ok(Some(user)) => user.name,
        _ if euid.is_root() => root_fallback().name,
        _ => nameless_self(euid).name,
    }
}

fn lookup_by_name(name: &str) -> Result<User, ProcessError> {
    if name.is_empty() || name.contains('\0') {
        return Err(ProcessError::UnknownUser {
            name: name.to_owned(),
        });
    }
    match User::from_name(name) {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(ProcessError::UnknownUser {
            name: name.to_owned(),
        }),
        Err(source) => Err(ProcessError::UserLookup {
            name: name.to_owned(),
            source,
        }),
    }
}

fn lookup_by_uid(uid: Uid) -> Result<Option<User>, ProcessError> {
    User::from_uid(uid).map_err(|source| ProcessError::UserLookup {
        name: format!("uid {uid}"),
        source,
    })
}

/// Root without a passwd entry (minimal containers).
fn root_fallback() -> User {
    nameless_user(
        "root".to_owned(),
        Uid::from_raw(0),
        Gid::from_raw(0),
        "/root",
    )
}

/// The agent's own user when it has no passwd entry.
fn nameless_self(euid: Uid) -> User {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/".to_owned());
    nameless_user(euid.to_string(), euid, Gid::effective(), &home)
}

fn nameless_user(name: String, uid: Uid, gid: Gid, home: &str) -> User {
    User {
        name,
        passwd: CString::default(),
        uid,
        gid,
        gecos: CString::default(),
        dir: PathBuf::from(home),
        shell: PathBuf::from(FALLBACK_SHELL),
    }
}

/// The groups `initgroups` would set: every group listing the user, plus the
/// primary group. Falls back to just the primary group (fewer privileges, never
/// more) if the group database cannot be read.
fn supplementary_groups(user: &User) -> Vec<Gid> {
    let groups = CString::new(user.name.as_bytes())
        .map_err(|_| nix::Error::EINVAL)
        .and_then(|name| nix::unistd::getgrouplist(&name, user.gid));
    match groups {
        Ok(groups) => groups,
        Err(e) => {
            tracing::warn!(user = %user.name, error = %e,
                "could not read the user's groups; using only the primary group");
            vec![user.gid]
        }
    }
}

fn from_user(user: User, switch_groups: Option<Vec<Gid>>) -> RunAs {
    let shell = usable_shell(&user.shell);
    let no_login = is_no_login(&user.shell).then(|| user.shell.clone());
    RunAs {
        name: user.name,
        uid: user.uid,
        gid: user.gid,
        home: if user.dir.as_os_str().is_empty() {
            PathBuf::from("/")
        } else {
            user.dir
        },
        shell,
        no_login,
        switch_groups,
    }
}

/// A shell that exists to refuse logins (`/usr/sbin/nologin`, `/bin/false`).
fn is_no_login(shell: &Path) -> bool {
    matches!(
        shell.file_name().map(OsStr::as_bytes),
        Some(b"nologin" | b"false")
    )
}

fn usable_shell(shell: &Path) -> PathBuf {
    let no_login = is_no_login(shell);
    let executable = std::fs::metadata(shell)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    if shell.is_absolute() && executable && !no_login {
        shell.to_path_buf()
    } else {
        tracing::debug!(shell = %shell.display(), "using {FALLBACK_SHELL} instead of the user's shell");
        PathBuf::from(FALLBACK_SHELL)
    }
}

/// Makes the child take on `run_as`'s credentials between fork and exec:
/// supplementary groups, then gid, then uid (so that root privileges are held
/// until the last step and are gone for good afterwards), then changes to the
/// home directory, falling back to `/` (as the new user, so permissions are
/// those of the user).
///
/// Only called when the agent is root ([`RunAs::switches_user`]).
#[allow(unsafe_code)]
pub(crate) fn install_user_switch(
    cmd: &mut tokio::process::Command,
    run_as: &RunAs,
    groups: &[Gid],
    start_dir: Option<&Path>,
) {
    let groups = groups.to_vec();
    let uid = run_as.uid;
    let gid = run_as.gid;
    let home =
        CString::new(run_as.home.as_os_str().as_bytes()).unwrap_or_else(|_| CString::from(c"/"));
    let start = start_dir.and_then(|d| CString::new(d.as_os_str().as_bytes()).ok());
    let setup = move || -> std::io::Result<()> {
        nix::unistd::setgroups(&groups)?;
        nix::unistd::setgid(gid)?;
        nix::unistd::setuid(uid)?;
        let started = match &start {
            Some(dir) => nix::unistd::chdir(dir.as_c_str()).is_ok(),
            None => false,
        };
        if !started && nix::unistd::chdir(home.as_c_str()).is_err() {
            nix::unistd::chdir(c"/")?;
        }
        Ok(())
    };
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe operations are allowed. It only makes raw syscalls
    // (setgroups, setgid, setuid, chdir) on data prepared beforehand in the
    // parent: the group list and the home path are owned by the closure, the
    // `CStr` paths are passed to `chdir` without copying, and errors are
    // turned into `io::Error` from a raw errno, which does not allocate. It
    // takes no locks and touches no shared state of the parent.
    unsafe {
        cmd.pre_exec(setup);
    }
}

/// Gives the child the default action for every signal. A process inherits the signals its
/// parent ignores, so an agent started with SIGINT or SIGQUIT ignored (by a service manager,
/// `nohup`, or a script's `&`) would otherwise start shells in which Ctrl-C does nothing.
/// Handlers the agent installs are reset by exec anyway; only ignored signals carry over.
#[allow(unsafe_code)]
pub(crate) fn install_default_signals(cmd: &mut tokio::process::Command) {
    use nix::sys::signal::{signal, SigHandler, Signal};
    let reset = || -> std::io::Result<()> {
        for sig in Signal::iterator() {
            if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
                continue;
            }
            // SAFETY: SIG_DFL installs no handler; this is a plain sigaction call.
            let _ = unsafe { signal(sig, SigHandler::SigDfl) };
        }
        Ok(())
    };
    // SAFETY: the closure runs in the forked child before exec and only calls sigaction, which
    // is async-signal-safe; it allocates nothing and touches no state of the parent.
    unsafe {
        cmd.pre_exec(reset);
    }
}

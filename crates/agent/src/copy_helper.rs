//! The copy helper: the process that does the file side of `wicket cp` on this host. For a `copy`
//! channel the agent starts its own binary again (`wicket-agent copy-helper`, see
//! [`crate::session`]) as the run-as user, with the channel on stdin and stdout, so every file
//! is opened with that user's credentials; the binary's `main` hands the parsed [`Mode`] to
//! [`run`]. The file IO is [`wicket_transfer`].

use std::ffi::OsString;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use wicket_proto::{CopySpec, Direction};
use wicket_transfer::{Cancel, Progress, CHUNK, WARNING_PREFIX};

/// What the helper does, from its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Read `path` (a tree with `recursive`) and write the copy records to stdout.
    Send { recursive: bool, path: PathBuf },
    /// Read copy records from stdin and write them at `path`; the verdict goes to stdout.
    Receive { path: PathBuf },
}

impl Mode {
    /// The target's side of `spec`: a download sends, an upload receives.
    pub fn for_spec(spec: &CopySpec) -> Mode {
        let path = PathBuf::from(&spec.path);
        match spec.direction {
            Direction::Upload => Mode::Receive { path },
            Direction::Download => Mode::Send {
                recursive: spec.recursive,
                path,
            },
        }
    }

    /// The helper's arguments after the program name: `copy-helper send [--recursive] -- PATH`
    /// or `copy-helper receive -- PATH`, which `wicket-agent` parses back into this `Mode`.
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["copy-helper".into()];
        let path = match self {
            Mode::Send { recursive, path } => {
                args.push("send".into());
                if *recursive {
                    args.push("--recursive".into());
                }
                path
            }
            Mode::Receive { path } => {
                args.push("receive".into());
                path
            }
        };
        args.push("--".into());
        args.push(path.clone().into_os_string());
        args
    }
}

/// Runs the helper: blocking IO on stdin and stdout, with this process's (the run-as user's)
/// credentials. A failure's reason goes out in the copy stream and on stderr before it is
/// returned. SIGHUP is ignored: when the user goes away the agent hangs up, and the helper must
/// still see the end of its input and remove its temporary file. SIGINT (the user's Ctrl-C,
/// which the agent passes on) cancels a receive: the file being written is removed at once and
/// none is renamed into place after it; a sender simply dies of it.
pub fn run(mode: Mode) -> Result<(), wicket_transfer::Error> {
    ignore_sighup();
    let mut out = BufWriter::with_capacity(CHUNK, std::io::stdout().lock());
    let result = match mode {
        Mode::Send { recursive, path } => {
            let r = wicket_transfer::send(&path, recursive, &mut out, &mut Warnings);
            if let Err(e) = &r {
                let _ = out.write_all(&wicket_transfer::status(&r));
                let _ = out.flush();
                eprintln!("{}", wicket_transfer::report(e));
            }
            r
        }
        Mode::Receive { path } => {
            let cancel = Cancel::new();
            cancel_on_sigint(&cancel);
            let r = wicket_transfer::receive(
                &path,
                &mut std::io::stdin().lock(),
                &mut Warnings,
                &cancel,
            );
            out.write_all(&wicket_transfer::status(&r))
                .map_err(wicket_transfer::Error::Write)?;
            r
        }
    };
    out.flush().map_err(wicket_transfer::Error::Write)?;
    result.map(|_| ())
}

#[allow(unsafe_code)]
fn ignore_sighup() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: setting a signal to SIG_IGN installs no handler code.
    unsafe {
        let _ = signal(Signal::SIGHUP, SigHandler::SigIgn);
    }
}

/// Calls `cancel` when SIGINT arrives, from a thread of its own waiting for it (the signal
/// is blocked in every other thread, so no handler runs in the middle of the receive).
fn cancel_on_sigint(cancel: &Cancel) {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    if set.thread_block().is_err() {
        return;
    }
    let cancel = cancel.clone();
    let waiter = std::thread::Builder::new()
        .name("sigint".into())
        .spawn(move || {
            if set.wait().is_ok() {
                cancel.cancel();
            }
        });
    if waiter.is_err() {
        // No thread to hear it: let SIGINT end the helper as before (the next copy of the same
        // name removes the temporary file).
        let _ = set.thread_unblock();
    }
}

/// Warnings on stderr, which the agent passes to the CLI; no progress.
struct Warnings;

impl Progress for Warnings {
    fn warn(&mut self, msg: &str) {
        // One line each, whatever the names in it: the CLI tells warnings by their prefix.
        eprintln!("{WARNING_PREFIX}{}", wicket_proto::text::display(msg));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_name_the_mode() {
        let send = Mode::Send {
            recursive: true,
            path: "/srv/-x".into(),
        };
        assert_eq!(
            send.args(),
            ["copy-helper", "send", "--recursive", "--", "/srv/-x"]
        );
        let receive = Mode::Receive {
            path: "dist".into(),
        };
        assert_eq!(receive.args(), ["copy-helper", "receive", "--", "dist"]);
    }
}

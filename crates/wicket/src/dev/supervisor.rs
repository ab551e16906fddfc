//! Keeping `wicketd dev`'s agent running. The agent is a process of its own (the real
//! `wicket-agent run`), so it can die on its own: killed by hand, the OOM killer, a crash. The
//! server and the sessions of other targets have no reason to stop with it, so the supervisor
//! starts it again and says so on the console; one that keeps dying is started again less and
//! less often (the agent's own [`Backoff`]), never in a tight loop.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::process::{Child, Command};
use wicket_dial::Backoff;
use wicket_server::AppState;

/// An agent that ran at least this long before it exited was healthy: the next start is
/// immediate-ish again. One that exits sooner counts towards a crash loop.
const HEALTHY_RUN: Duration = Duration::from_secs(30);
/// After this many short runs in a row the console says the agent keeps exiting.
const CRASH_LOOP: u32 = 3;

/// The dev agent's process and how to start it again.
pub struct Supervised {
    bin: PathBuf,
    state_dir: PathBuf,
    log: PathBuf,
    /// `None` while a start failed (the next attempt waits out the backoff).
    child: Option<Child>,
    started: Instant,
    backoff: Backoff,
    /// Runs in a row that ended within [`HEALTHY_RUN`].
    short_runs: u32,
}

impl Supervised {
    /// Starts `bin --state-dir STATE_DIR run` with its output in `log` (emptied first).
    pub fn start(bin: &Path, state_dir: &Path, log: &Path) -> Result<Supervised> {
        let mut s = Supervised {
            bin: bin.to_path_buf(),
            state_dir: state_dir.to_path_buf(),
            log: log.to_path_buf(),
            child: None,
            started: Instant::now(),
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
            short_runs: 0,
        };
        s.child = Some(s.spawn(true)?);
        Ok(s)
    }

    fn spawn(&self, truncate: bool) -> Result<Child> {
        use std::os::unix::fs::OpenOptionsExt;
        let log = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(truncate)
            .append(!truncate)
            .mode(0o600)
            .open(&self.log)?;
        Command::new(&self.bin)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("run")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))
    }

    /// Keeps the agent running until `stop` resolves: each time it exits, says so, waits
    /// (longer while it keeps exiting soon after starting), starts it again, and says when
    /// target `target_id` is back online through a new link.
    pub async fn run(&mut self, state: &AppState, target_id: &str, stop: impl std::future::Future) {
        tokio::pin!(stop);
        // The link the server knew when the agent was restarted: a different one means back.
        let mut waiting_for_new_link: Option<Option<u64>> = None;
        let mut poll = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = &mut stop => return,
                status = exited(&mut self.child) => {
                    self.child = None;
                    let delay = self.next_delay();
                    eprintln!(
                        "wicketd dev: the agent {}; starting it again in {:.1} s",
                        describe(status.as_ref()),
                        delay.as_secs_f64()
                    );
                    if self.short_runs >= CRASH_LOOP {
                        eprintln!(
                            "wicketd dev: the agent keeps exiting ({} times in a row within \
                             {} s of starting); waiting longer each time; see {}",
                            self.short_runs,
                            HEALTHY_RUN.as_secs(),
                            self.log.display()
                        );
                    }
                    tokio::select! {
                        _ = &mut stop => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    self.started = Instant::now();
                    match self.spawn(false) {
                        Ok(child) => {
                            self.child = Some(child);
                            waiting_for_new_link =
                                Some(state.agents().get(target_id).map(|c| c.conn_id));
                        }
                        Err(e) => eprintln!("wicketd dev: {e:#}"),
                    }
                }
                _ = poll.tick(), if waiting_for_new_link.is_some() => {
                    let now = state.agents().get(target_id).map(|c| c.conn_id);
                    if now.is_some() && Some(now) != waiting_for_new_link {
                        eprintln!("wicketd dev: the agent is back online");
                        waiting_for_new_link = None;
                    }
                }
            }
        }
    }

    /// How long to wait before the next start: short after a healthy run, growing while the
    /// agent keeps exiting soon after it starts.
    fn next_delay(&mut self) -> Duration {
        if self.started.elapsed() >= HEALTHY_RUN {
            self.backoff.reset();
            self.short_runs = 0;
        } else {
            self.short_runs += 1;
        }
        self.backoff.next_delay()
    }

    /// Asks the agent to stop (SIGTERM) and waits up to 5 s; it is killed after that.
    pub async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    }
}

/// Resolves when the agent exits (with its status, if it could be had); at once when none
/// is running (its start failed).
async fn exited(child: &mut Option<Child>) -> Option<ExitStatus> {
    match child {
        Some(c) => c.wait().await.ok(),
        None => None,
    }
}

/// "exited with status 1", "was killed by signal 9 (SIGKILL)", "could not be started".
fn describe(status: Option<&ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        None => "could not be started".into(),
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(sig)) => match nix::sys::signal::Signal::try_from(sig) {
                Ok(name) => format!("was killed by signal {sig} ({name})"),
                Err(_) => format!("was killed by signal {sig}"),
            },
            (None, None) => format!("ended ({s})"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn statuses_read_as_sentences() {
        assert_eq!(
            describe(Some(&ExitStatus::from_raw(9))),
            "was killed by signal 9 (SIGKILL)"
        );
        assert_eq!(
            describe(Some(&ExitStatus::from_raw(1 << 8))),
            "exited with status 1"
        );
        assert_eq!(describe(None), "could not be started");
    }

    #[test]
    fn a_crash_loop_waits_longer_and_a_healthy_run_starts_over() {
        let mut s = Supervised {
            bin: PathBuf::new(),
            state_dir: PathBuf::new(),
            log: PathBuf::new(),
            child: None,
            started: Instant::now(),
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
            short_runs: 0,
        };
        let first = s.next_delay();
        assert!(first <= Duration::from_millis(500));
        for _ in 0..8 {
            s.next_delay();
        }
        assert_eq!(s.short_runs, 9);
        assert!(
            s.next_delay() >= Duration::from_secs(15),
            "a loop must back off"
        );
        s.started = Instant::now() - HEALTHY_RUN;
        assert!(s.next_delay() <= Duration::from_millis(500));
        assert_eq!(s.short_runs, 0);
    }
}

//! The README's first command: `wicketd dev` brings up the whole system, prints a `wicket
//! connect` line that works as printed, starts its agent again when it dies, and stops
//! everything cleanly on Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use wicket_testkit::cli::show;

struct Dev {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Dev {
    fn start(data: &std::path::Path, config_home: &std::path::Path) -> Result<Dev> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wicketd"))
            .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .env("XDG_CONFIG_HOME", config_home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        // The console, both streams, as one sequence of lines.
        let (tx, lines) = std::sync::mpsc::channel();
        let out = child.stdout.take().context("stdout")?;
        let err = child.stderr.take().context("stderr")?;
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[dev] {line}");
                let _ = tx2.send(line);
            }
        });
        Ok(Dev { child, lines })
    }

    /// Lines up to and including `last`.
    fn read_until(&self, last: &str) -> Result<Vec<String>> {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(l) => {
                    let done = l.contains(last);
                    seen.push(l);
                    if done {
                        return Ok(seen);
                    }
                }
                Err(_) => bail!("no {last:?} from wicketd dev; got:\n{}", seen.join("\n")),
            }
        }
    }

    fn interrupt_and_wait(&mut self) -> Result<std::process::ExitStatus> {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT)?;
        for _ in 0..100 {
            if let Some(s) = self.child.try_wait()? {
                return Ok(s);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("wicketd dev did not stop within 10 s of Ctrl-C")
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the printed `wicket connect NAME` line with a command appended.
fn run_connect_line(banner: &[String], config_home: &std::path::Path, cmd: &str) -> Result<String> {
    let line = banner
        .iter()
        .find(|l| l.contains(" connect "))
        .context("no connect line printed")?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let out = Command::new(words[0])
        .args(&words[1..])
        .args(["--", cmd])
        .env("XDG_CONFIG_HOME", config_home)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!("{line} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// The pid of the dev agent (the process whose command line names its state directory).
fn agent_pid(data: &std::path::Path) -> Option<i32> {
    let needle = data.join("agent").display().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .find(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                .unwrap_or(false)
        })
        .and_then(|e| e.file_name().to_str()?.parse().ok())
}

fn agent_running(data: &std::path::Path) -> bool {
    agent_pid(data).is_some()
}

#[test]
fn dev_starts_everything_prints_a_working_line_and_stops_cleanly() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let config_home = tmp.path().join("config");

    let mut dev = Dev::start(&data, &config_home)?;
    let banner = dev.read_until("Press Ctrl-C to stop.")?;
    let text = banner.join("\n");
    assert!(text.contains("https://127.0.0.1:"), "{text}");
    assert!(
        text.contains("(shown once)"),
        "first start shows the admin password:\n{text}"
    );
    assert_eq!(
        run_connect_line(&banner, &config_home, "echo dev-ok")?,
        "dev-ok\n"
    );
    assert!(agent_running(&data));

    // The agent dies: wicketd dev says so, starts it again, and the same line works again.
    let killed = agent_pid(&data).context("no agent process")?;
    kill(Pid::from_raw(killed), Signal::SIGKILL)?;
    let said = dev.read_until("the agent is back online")?.join("\n");
    assert!(
        said.contains("the agent was killed by signal 9 (SIGKILL); starting it again"),
        "{said}"
    );
    assert!(dev.child.try_wait()?.is_none(), "wicketd dev stopped");
    assert_ne!(agent_pid(&data), Some(killed));
    assert_eq!(
        run_connect_line(&banner, &config_home, "echo back")?,
        "back\n"
    );

    let status = dev.interrupt_and_wait()?;
    assert!(status.success(), "wicketd dev exited with {status}");
    assert!(!agent_running(&data), "the agent outlived wicketd dev");

    // A second start on the same data dir reuses the admin and the enrolled agent.
    let mut dev = Dev::start(&data, &config_home)?;
    let banner = dev.read_until("Press Ctrl-C to stop.")?;
    assert!(!banner.join("\n").contains("(shown once)"));
    assert_eq!(
        run_connect_line(&banner, &config_home, "echo again")?,
        "again\n"
    );
    assert!(dev.interrupt_and_wait()?.success());

    // The audit key is found from the dev data dir as from the server's own in it.
    let key = |dir: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_wicketd"))
            .args(["audit", "public-key", "--data-dir"])
            .arg(dir)
            .output()
    };
    let (dev_dir, server_dir) = (key(&data)?, key(&data.join("server"))?);
    assert!(dev_dir.status.success(), "{}", show(&dev_dir));
    assert_eq!(dev_dir.stdout, server_dir.stdout);
    assert_eq!(String::from_utf8_lossy(&dev_dir.stdout).trim().len(), 64);
    // A directory with no key says which file it looked for.
    let empty = key(tmp.path())?;
    let err = String::from_utf8_lossy(&empty.stderr);
    assert!(
        !empty.status.success() && err.contains("audit.key") && err.contains("data directory"),
        "{err}"
    );
    Ok(())
}

//! An interactive session driven through a real local PTY, as a person would use it: the remote
//! terminal follows local resizes, Ctrl-C interrupts the remote job, UTF-8 survives, a password
//! typed at a prompt without echo stays out of the recording, the exit status comes back and
//! the local terminal is restored; a command run without `-t` from a cooked terminal gets every
//! line pasted at once; and a session whose agent hangs ends with that reason within seconds,
//! while `~.` leaves at once.

use std::time::Duration;

use anyhow::{Context, Result};
use wicket_recording::EventKind;
use wicket_testkit::{bins, Harness, Terminal};

const T: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_shell_through_a_real_pty() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;

    // `sh` runs wicket, then reports its status and the terminal mode it left behind.
    let mut term = shell(
        &h,
        "connect web-1; echo \"rc=$?\"; stty -a; echo end-of-stty",
    )?;

    // The remote shell is up and sees our size.
    term.write(b"stty size; echo ready-$((40+2))\r").await?;
    let mut at = term.expect("ready-42", T).await?;
    assert!(
        String::from_utf8_lossy(&term.screen).contains("24 80"),
        "{}",
        String::from_utf8_lossy(&term.screen)
    );

    // A local resize reaches the remote PTY.
    term.resize(100, 30)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    term.write(b"stty size\r").await?;
    at = term.expect_from(at, "30 100", T).await?;

    // Ctrl-C interrupts a remote sleep promptly and the shell carries on.
    term.write(b"sleep 30; echo not-interrupted\r").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    term.write(b"\x03").await?;
    term.write(b"echo status-$((100+$?))\r").await?;
    at = term.expect_from(at, "status-230", T).await?;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "Ctrl-C took {:?}",
        started.elapsed()
    );
    assert!(!String::from_utf8_lossy(&term.screen[..at]).contains("\nnot-interrupted"));

    // Multi-byte UTF-8 both ways: typed in, printed back joined differently.
    term.write("printf '%s-%s\\n' héllo ✓日本\r".as_bytes())
        .await?;
    at = term.expect_from(at, "héllo-✓日本", T).await?;

    // A password typed while the remote terminal does not echo (the prompt is printed once
    // echo is off) is not recorded; a marker says where it was. What is typed next is.
    term.write(b"stty -echo; printf 'p%s: ' w; read X; stty echo; echo \"got-${#X}\"\r")
        .await?;
    at = term.expect_from(at, "pw: ", T).await?;
    term.write(b"hunter2-secret\r").await?;
    at = term.expect_from(at, "got-14", T).await?;
    term.write(b"echo visible-$((1+1))\r").await?;
    at = term.expect_from(at, "visible-2", T).await?;

    // The exit status comes back, and raw mode is gone afterwards.
    term.write(b"exit 3\r").await?;
    at = term.expect_from(at, "rc=3", T).await?;
    term.expect_from(at, "end-of-stty", T).await?;
    let tail = String::from_utf8_lossy(&term.screen[at..]).to_string();
    assert!(
        tail.contains(" icanon") && tail.contains(" echo "),
        "terminal not restored:\n{tail}"
    );
    assert!(
        !tail.contains("-icanon"),
        "terminal left in raw mode:\n{tail}"
    );
    let status = tokio::time::timeout(T, term.child.wait()).await??;
    assert!(status.success());

    let raw = recording_of_newest_session(&h).await?;
    assert!(
        !raw.contains("hunter2"),
        "the password was recorded:\n{raw}"
    );
    let cast = wicket_recording::Cast::parse(&raw)?;
    let marked = cast.events.iter().any(|e| {
        e.kind == EventKind::Other("m".into())
            && e.data == "input hidden: the terminal was reading without echo"
    });
    assert!(marked, "no marker where the password was:\n{raw}");
    let typed: String = cast
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Input)
        .map(|e| e.data.as_str())
        .collect();
    assert!(typed.contains("echo visible-$((1+1))\r"), "{typed:?}");
    assert!(typed.contains("stty size"), "{typed:?}");
    Ok(())
}

/// `wicket replay --raw` of the newest session, once its history says it ended.
async fn recording_of_newest_session(h: &Harness) -> Result<String> {
    for _ in 0..100 {
        let list: Vec<serde_json::Value> =
            serde_json::from_str(&h.admin.ok(&["sessions", "--output", "json"]).await?)?;
        if let Some(id) = list
            .first()
            .filter(|s| !s["ended_at"].is_null())
            .and_then(|s| s["id"].as_str())
        {
            return h.admin.ok(&["replay", id, "--raw"]).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the session never ended in the history")
}

/// `wicket connect` without `-t` from an interactive shell leaves the local terminal cooked,
/// and a cooked terminal hands over one line per read: lines pasted at once must all reach
/// the remote command without waiting for another keystroke.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_pasted_into_a_command_without_a_terminal_all_arrive() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let mut term = shell(&h, "connect web-1 -- sed -u s/^/got-/; echo \"rc=$?\"")?;

    term.write(b"first\r").await?;
    let at = term.expect("got-first", T).await?;
    term.write(b"one\rtwo\rthree\r").await?;
    let at = term.expect_from(at, "got-three", T).await?;
    // ^D at the start of a line is the end of input: the remote command ends, and so does wicket.
    term.write(b"\x04").await?;
    term.expect_from(at, "rc=0", T).await?;
    let status = tokio::time::timeout(T, term.child.wait()).await??;
    assert!(status.success());
    Ok(())
}

/// A hung agent (stopped with SIGSTOP) answers nothing, and every key goes to it. The server
/// watches an agent's link closely while a terminal session runs on it, so the session ends
/// within seconds with what happened, where the heartbeat (a minute here) would take
/// minutes; meanwhile `~.` after Enter leaves at once, and `~?` lists the escapes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_agent_ends_the_session_soon_and_the_escape_leaves_at_once() -> Result<()> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;

    let mut h = Harness::start_with(bins!(), &[("WICKET_HEARTBEAT", "60s")]).await?;
    let i = h.add_agent("web-1").await?;
    let mut waiting = shell(&h, "connect web-1; echo \"rc=$?\"")?;
    let mut leaving = shell(&h, "connect web-1; echo \"rc=$?\"")?;
    for term in [&mut waiting, &mut leaving] {
        term.write(b"echo ready-$((40+2))\r").await?;
        term.expect("ready-42", T).await?;
    }
    // `~?` lists the escapes and sends nothing; `~~` sends one `~`; `~` before anything
    // else goes as typed.
    leaving.write(b"~?").await?;
    let at = leaving.expect("Supported escape sequences", T).await?;
    // (Typed once `read` waits: the shell's line editor drops what was typed ahead.)
    leaving
        .write(b"echo go-$((1+1)); read v; read w; echo \"[$v][$w]\"\r")
        .await?;
    let at = leaving.expect_from(at, "go-2", T).await?;
    leaving.write(b"~~ab\r~/cd\r").await?;
    let mut at = leaving.expect_from(at, "[~ab][~/cd]", T).await?;

    let agent = Pid::from_raw(h.agents[i].pid().context("agent pid")? as i32);
    kill(agent, Signal::SIGSTOP)?;
    let stopped = std::time::Instant::now();
    leaving.write(b"echo nobody-hears-this\r").await?;
    leaving.write(b"~.").await?;
    at = leaving
        .expect_from(at, "disconnected from web-1", T)
        .await?;
    leaving.expect_from(at, "rc=255", T).await?;
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "~. took {:?}",
        stopped.elapsed()
    );

    let at = waiting
        .expect(
            "session ended: the agent on web-1 stopped answering",
            Duration::from_secs(40),
        )
        .await?;
    waiting.expect_from(at, "rc=255", T).await?;
    let noticed = stopped.elapsed();
    kill(agent, Signal::SIGCONT)?;
    assert!(
        noticed < Duration::from_secs(30),
        "the hung agent was noticed only after {noticed:?}"
    );
    assert!(
        !String::from_utf8_lossy(&waiting.screen).contains("heartbeat"),
        "the transport's words reached the user"
    );

    // The history says the same.
    let mut reasons = Vec::new();
    for _ in 0..100 {
        let list = h.admin.ok(&["sessions", "--output", "json"]).await?;
        let v: serde_json::Value = serde_json::from_str(&list)?;
        reasons = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["end_reason"].as_str().map(str::to_owned))
            .collect();
        if reasons.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "the agent on web-1 stopped answering",
            "the user disconnected"
        ],
    );
    Ok(())
}

/// A wicketd that stops answering (stopped with SIGSTOP) is noticed by the CLI itself within
/// seconds during a terminal session, where the heartbeat (a minute here) would take minutes.
/// And `~^Z` suspends a session like a local job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_noticed_within_seconds() -> Result<()> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;

    let mut h = Harness::start_with(bins!(), &[("WICKET_HEARTBEAT", "60s")]).await?;
    h.add_agent("web-1").await?;
    let mut term = shell(&h, "connect web-1; echo \"rc=$?\"")?;
    term.write(b"echo ready-$((40+2))\r").await?;
    let at = term.expect("ready-42", T).await?;

    // Meanwhile, from a shell with job control: `~^Z` suspends wicket as ^Z would a local
    // job, and `fg` brings the session back, in raw mode again.
    let cmd = pty_process::Command::new("bash")
        .args(["--norc", "--noprofile", "-i"])
        .env("XDG_CONFIG_HOME", &h.admin.config_home)
        .env("TERM", "xterm-256color")
        .env("PS1", "local$ ");
    let mut job = Terminal::spawn(cmd, 80, 24)?;
    let line = format!("{} connect web-1\r", h.bins.wicket.display());
    job.write(line.as_bytes()).await?;
    job.write(b"echo ready-$((40+2))\r").await?;
    let mut at_job = job.expect("ready-42", T).await?;
    job.write(b"~\x1a").await?;
    at_job = job.expect_from(at_job, "Stopped", T).await?;
    job.write(b"fg\r").await?;
    job.write(b"echo back-$((1+1))\r").await?;
    at_job = job.expect_from(at_job, "back-2", T).await?;
    job.write(b"exit\r").await?;
    job.expect_from(at_job, "local$ ", T).await?;

    let server = Pid::from_raw(h.server.pid().context("server pid")? as i32);
    kill(server, Signal::SIGSTOP)?;
    let stopped = std::time::Instant::now();
    let found = term
        .expect_from(
            at,
            "session ended: wicketd stopped answering",
            Duration::from_secs(40),
        )
        .await;
    let noticed = stopped.elapsed();
    kill(server, Signal::SIGCONT)?;
    term.expect_from(found?, "rc=255", T).await?;
    assert!(
        noticed < Duration::from_secs(30),
        "the silent server was noticed only after {noticed:?}"
    );
    Ok(())
}

/// `sh -c "wicket REST"` on a fresh 80x24 local PTY, as the harness's admin.
pub(crate) fn shell(h: &Harness, rest: &str) -> Result<Terminal> {
    let script = format!("{} {rest}", h.bins.wicket.display());
    let cmd = pty_process::Command::new("sh")
        .args(["-c", &script])
        .env("XDG_CONFIG_HOME", &h.admin.config_home)
        .env("TERM", "xterm-256color")
        .env("LANG", "C.UTF-8");
    Terminal::spawn(cmd, 80, 24)
}

//! An interactive session driven through a real local PTY, as a person would use it: the remote
//! terminal follows local resizes, Ctrl-C interrupts the remote job, UTF-8 survives, a password
//! typed at a prompt without echo stays out of the recording, the exit status comes back and
//! the local terminal is restored; and a command run without `-t` from a cooked terminal gets
//! every line pasted at once.

use std::time::Duration;

use anyhow::Result;
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

/// `sh -c "wicket REST"` on a fresh 80x24 local PTY, as the harness's admin.
fn shell(h: &Harness, rest: &str) -> Result<Terminal> {
    let script = format!("{} {rest}", h.bins.wicket.display());
    let cmd = pty_process::Command::new("sh")
        .args(["-c", &script])
        .env("XDG_CONFIG_HOME", &h.admin.config_home)
        .env("TERM", "xterm-256color")
        .env("LANG", "C.UTF-8");
    Terminal::spawn(cmd, 80, 24)
}

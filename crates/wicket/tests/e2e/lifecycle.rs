//! Links come back by themselves: a restarted server sees its agents again within seconds; a
//! dead agent is shown offline; a session whose agent or server goes is told so in words.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use wicket_testkit::cli::show;
use wicket_testkit::{bins, AgentProc, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_returns_after_server_restart_and_goes_offline_when_killed() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    let i = h.add_agent("web-1").await?;

    // Kill the server outright (no goodbye to the agent) and bring it back on the same port.
    h.server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.server.restart()?;
    let restarted = Instant::now();
    assert!(
        h.wait_online("web-1", true, Duration::from_secs(5)).await?,
        "agent not back online within 5 s of the restart"
    );
    eprintln!(
        "agent back online {:?} after the restart",
        restarted.elapsed()
    );
    let out = h
        .admin
        .run(&["connect", "web-1", "--", "echo back"], None)
        .await?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "back\n",
        "{}",
        show(&out)
    );

    // A clean stop (SIGTERM) also brings it back.
    h.server.stop();
    h.server.restart()?;
    assert!(h.wait_online("web-1", true, Duration::from_secs(5)).await?);

    // Killing the agent shows it offline, with a last-seen time.
    h.agents[i].kill();
    assert!(
        h.wait_online("web-1", false, Duration::from_secs(5))
            .await?,
        "agent still online after kill"
    );
    let list = h.admin.ok(&["targets", "--output", "json"]).await?;
    let v: serde_json::Value = serde_json::from_str(&list)?;
    assert_eq!(v[0]["online"], false);
    assert!(v[0]["last_seen"].as_i64().is_some());
    Ok(())
}

/// A session whose agent is killed, or whose wicketd stops, ends with what happened in words
/// (never the transport's: no TLS, no manual links), and the session history records the same
/// reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_told_in_words_when_its_agent_or_server_goes() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    let i = h.add_agent("web-1").await?;

    // The agent is killed.
    let session = Running::start(&h, "echo started-1; sleep 60").await?;
    h.agents[i].kill();
    let err = session.ends_with_255().await?;
    assert!(err.contains("the agent on web-1 went away"), "{err}");
    assert_eq!(
        end_reason(&h, "echo started-1; sleep 60").await?,
        "the agent on web-1 went away"
    );
    let agent = AgentProc::run(&h.bins.agent, &h.agent_dir("web-1"), &[], &[])?;
    h.agents.push(agent);
    assert!(
        h.wait_online("web-1", true, Duration::from_secs(10))
            .await?
    );

    // wicketd stops (SIGTERM): it ends its sessions first, and says why.
    let session = Running::start(&h, "echo started-2; sleep 60").await?;
    h.server.stop();
    let err = session.ends_with_255().await?;
    assert!(err.contains("wicketd is shutting down"), "{err}");
    h.server.restart()?;
    assert!(
        h.wait_online("web-1", true, Duration::from_secs(10))
            .await?
    );
    assert_eq!(
        end_reason(&h, "echo started-2; sleep 60").await?,
        "wicketd is shutting down"
    );
    // (A killed wicketd: `hardening::a_lost_link_is_explained_in_words`.)
    Ok(())
}

/// `wicket connect web-1 -- COMMAND` in the background, once it printed its first line.
struct Running(tokio::process::Child);

impl Running {
    async fn start(h: &Harness, command: &str) -> Result<Running> {
        use tokio::io::AsyncBufReadExt;
        let mut child = h
            .admin
            .command()
            .args(["connect", "web-1", "--", command])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(15),
            tokio::io::BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .context("the command did not start")??;
        assert!(line.starts_with("started"), "{line}");
        Ok(Running(child))
    }

    /// Waits for wicket to fail (status 255) and returns its stderr, which must hold no
    /// library text.
    async fn ends_with_255(self) -> Result<String> {
        let out = tokio::time::timeout(Duration::from_secs(30), self.0.wait_with_output())
            .await
            .context("wicket did not end")??;
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(255), "{err}");
        for library in [
            "docs.rs",
            "close_notify",
            "https://",
            "heartbeat",
            "link lost",
        ] {
            assert!(!err.contains(library), "{err}");
        }
        Ok(err)
    }
}

/// The recorded end of the session that ran `command`, once it has one.
async fn end_reason(h: &Harness, command: &str) -> Result<String> {
    for _ in 0..100 {
        let list = h.admin.ok(&["sessions", "--output", "json"]).await?;
        let v: serde_json::Value = serde_json::from_str(&list)?;
        let reason = v
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["command"] == command)
            .and_then(|s| s["end_reason"].as_str());
        if let Some(r) = reason {
            return Ok(r.to_owned());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the session of {command:?} has no end recorded")
}

//! Links come back by themselves: a restarted server sees its agents again within seconds; a
//! dead agent is shown offline.

use std::time::{Duration, Instant};

use anyhow::Result;
use wicket_testkit::cli::show;
use wicket_testkit::{bins, Harness};

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

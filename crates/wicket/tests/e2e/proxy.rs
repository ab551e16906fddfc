//! Agents in networks whose only way out is an HTTP proxy: the link goes through an HTTP
//! CONNECT tunnel named by `HTTPS_PROXY`, and a proxy that refuses keeps the agent offline with a
//! log line that says so.
//!
//! The proxy is a real one, in the test process, on loopback: it reads the request head, checks
//! `CONNECT host:port`, dials it (loopback targets only) and splices the two connections.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wicket_testkit::cli::show;
use wicket_testkit::{bins, wait_until, AgentProc, Harness};

/// What a proxy does with a well-formed CONNECT.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Tunnel,
    Forbid,
}

#[derive(Default)]
struct Stats {
    /// Request lines seen, for example `CONNECT 127.0.0.1:4443 HTTP/1.1`.
    requests: Mutex<Vec<String>>,
    /// Tunnels established (200 sent and the upstream connected).
    tunnels: AtomicUsize,
}

impl Stats {
    fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// Starts a proxy on `127.0.0.1:0`; returns its port and its counters.
async fn spawn_proxy(mode: Mode) -> Result<(u16, Arc<Stats>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let stats = Arc::new(Stats::default());
    let s = stats.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let s = s.clone();
            tokio::spawn(async move {
                if let Err(e) = handle(conn, mode, &s).await {
                    eprintln!("test proxy: {e}");
                }
            });
        }
    });
    Ok((port, stats))
}

async fn handle(mut client: TcpStream, mode: Mode, stats: &Stats) -> Result<()> {
    // The request head, and whatever followed it in the same reads.
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        anyhow::ensure!(buf.len() < 16 * 1024, "request head too long");
        let mut chunk = [0u8; 1024];
        let n = client.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "client closed before the end of the request head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let request_line = head.lines().next().unwrap_or_default().to_string();
    stats
        .requests
        .lock()
        .expect("stats")
        .push(request_line.clone());
    let mut parts = request_line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if method != "CONNECT" {
        client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            .await?;
        return Ok(());
    }
    // Only ever tunnel to loopback: this proxy must not reach anywhere else.
    let host = target.rsplit_once(':').map(|(h, _)| h).unwrap_or_default();
    if mode == Mode::Forbid || host != "127.0.0.1" {
        client
            .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await?;
        return Ok(());
    }
    let mut upstream = match TcpStream::connect(target).await {
        Ok(u) => u,
        Err(e) => {
            client
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                .await?;
            anyhow::bail!("cannot reach {target}: {e}");
        }
    };
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    upstream.write_all(&buf[head_end..]).await?;
    stats.tunnels.fetch_add(1, Ordering::SeqCst);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    Ok(())
}

/// Enrols `name` directly (no proxy), so that every CONNECT the proxy sees comes from the
/// running agent's link.
async fn enrol(h: &Harness, name: &str) -> Result<()> {
    let (id, code) = h.activation(&[]).await?;
    let out = tokio::process::Command::new(&h.bins.agent)
        .arg("--state-dir")
        .arg(h.agent_dir(name))
        .arg("register")
        .args([
            "--server",
            &h.server.url,
            "--activation-id",
            &id,
            "--activation-code",
            &code,
            "--ca-fingerprint",
            &h.server.fingerprint,
            "--name",
            name,
        ])
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .context("spawn wicket-agent register")?;
    assert!(
        out.status.success(),
        "register {name} failed: {}",
        show(&out)
    );
    Ok(())
}

/// The environment that sends the agent through `proxy_port`. `NO_PROXY` and `no_proxy` are
/// both set empty: an empty `NO_PROXY` alone would fall back to an inherited `no_proxy`
/// (often `127.0.0.1,localhost`), which would bypass the proxy for the server.
fn proxy_env(proxy_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("HTTPS_PROXY", proxy_url.to_string()),
        ("https_proxy", String::new()),
        ("ALL_PROXY", String::new()),
        ("all_proxy", String::new()),
        ("NO_PROXY", String::new()),
        ("no_proxy", String::new()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_links_through_an_http_connect_proxy() -> Result<()> {
    let started = std::time::Instant::now();
    let mut h = Harness::start(bins!()).await?;
    let (proxy_port, stats) = spawn_proxy(Mode::Tunnel).await?;
    enrol(&h, "behind-proxy").await?;
    assert!(
        stats.requests().is_empty(),
        "the proxy saw requests before the agent ran: {:?}",
        stats.requests()
    );

    let env = proxy_env(&format!("http://127.0.0.1:{proxy_port}"));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let agent = AgentProc::run(&h.bins.agent, &h.agent_dir("behind-proxy"), &[], &env)?;
    h.agents.push(agent);

    assert!(
        h.wait_online("behind-proxy", true, Duration::from_secs(20))
            .await?,
        "agent behind the proxy did not come online; proxy requests: {:?}\nagent log:\n{}",
        stats.requests(),
        h.agents[0].logs()
    );
    let expected = format!("CONNECT 127.0.0.1:{} HTTP/1.1", h.server.port);
    let requests = stats.requests();
    assert!(
        requests.iter().any(|r| r == &expected),
        "the proxy never saw {expected:?}; it saw {requests:?}"
    );
    assert!(
        stats.tunnels.load(Ordering::SeqCst) >= 1,
        "no tunnel was established through the proxy; requests {requests:?}"
    );

    // A session reaches the agent over the proxied link.
    let out = h
        .admin
        .run(&["connect", "behind-proxy", "--", "echo via-proxy"], None)
        .await?;
    assert!(
        out.status.success(),
        "connect through the proxied agent failed: {}",
        show(&out)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "via-proxy\n",
        "unexpected session output: {}",
        show(&out)
    );
    eprintln!(
        "proxy test: {} CONNECT request(s), {} tunnel(s), {:.1}s",
        stats.requests().len(),
        stats.tunnels.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_refuses_keeps_the_agent_offline_and_says_why() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    let (proxy_port, stats) = spawn_proxy(Mode::Forbid).await?;
    enrol(&h, "refused").await?;

    let env = proxy_env(&format!("http://127.0.0.1:{proxy_port}"));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let agent = AgentProc::run(&h.bins.agent, &h.agent_dir("refused"), &[], &env)?;
    h.agents.push(agent);

    // The agent tries, through the proxy, and logs the refusal.
    let said_so = wait_until(Duration::from_secs(15), || {
        let log = h.agents[0].logs();
        log.contains("refused CONNECT") && log.contains("403 Forbidden")
    })
    .await;
    assert!(
        said_so,
        "the agent log does not mention the proxy's 403; proxy requests {:?}\nagent log:\n{}",
        stats.requests(),
        h.agents[0].logs()
    );
    let expected = format!("CONNECT 127.0.0.1:{} HTTP/1.1", h.server.port);
    assert!(
        stats.requests().iter().any(|r| r == &expected),
        "the refusing proxy never saw {expected:?}; it saw {:?}",
        stats.requests()
    );
    let log = h.agents[0].logs();
    assert!(
        log.contains(&format!("127.0.0.1:{proxy_port}")),
        "the refusal in the agent log does not name the proxy 127.0.0.1:{proxy_port}:\n{log}"
    );

    // Still offline a few retries later, and sessions are refused as offline.
    for _ in 0..20 {
        assert!(
            !h.is_online("refused").await?,
            "the agent is online although its only way out refuses CONNECT\nagent log:\n{}",
            h.agents[0].logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let retried = wait_until(Duration::from_secs(10), || stats.requests().len() >= 2).await;
    assert!(
        retried,
        "the agent did not retry through the proxy: {:?}",
        stats.requests()
    );
    let out = h
        .admin
        .run(&["connect", "refused", "--", "true"], None)
        .await?;
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("offline"),
        "connect to the refused agent should say offline: {}",
        show(&out)
    );
    Ok(())
}

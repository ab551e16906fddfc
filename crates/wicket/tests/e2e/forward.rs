//! `wicket forward` end to end: a real wicketd, agent and `wicket forward` process, real TCP on
//! loopback at both ends. Bulk data keeps its SHA-256, many connections share one link, each
//! direction half-closes on its own, refusals reset the local client promptly, and policy,
//! the agent's address filter and revocation all apply.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use wicket_testkit::{bins, Cli, Harness};

/// A running `wicket forward`, killed on drop.
struct Forward {
    child: tokio::process::Child,
    /// The local ports, in the order of the specs.
    ports: Vec<u16>,
    stderr: PathBuf,
}

impl Forward {
    async fn start(cli: &Cli, target: &str, specs: &[&str], dir: &std::path::Path) -> Result<Self> {
        let stderr = dir.join(format!("forward-{}.err", fastrand::u64(..)));
        let mut child = cli
            .command()
            .arg("forward")
            .arg(target)
            .args(specs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr)?)
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut ports = Vec::new();
        while ports.len() < specs.len() {
            let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
                .await
                .context("wicket forward printed nothing for 20 s")??;
            let Some(line) = line else {
                bail!(
                    "wicket forward exited: {}",
                    std::fs::read_to_string(&stderr)?
                );
            };
            // "Forwarding 127.0.0.1:PORT -> HOST:PORT via TARGET"
            let local = line
                .strip_prefix("Forwarding ")
                .and_then(|l| l.split(' ').next())
                .with_context(|| format!("unexpected line {line:?}"))?;
            let addr: std::net::SocketAddr = local.parse()?;
            ports.push(addr.port());
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Forward {
            child,
            ports,
            stderr,
        })
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    async fn connect(&self, i: usize) -> Result<TcpStream> {
        Ok(TcpStream::connect(("127.0.0.1", self.ports[i])).await?)
    }
}

/// Runs `wicket forward` expecting it to fail before it listens: it exits non-zero within
/// 15 s, having printed no `Forwarding` line. Returns what it said on stderr.
async fn refused_before_listening(cli: &Cli, target: &str, specs: &[&str]) -> Result<String> {
    let mut cmd = cli.command();
    cmd.arg("forward")
        .arg(target)
        .args(specs)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(15), cmd.output())
        .await
        .context("wicket forward kept running")??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    anyhow::ensure!(!out.status.success(), "it succeeded: {stderr}");
    anyhow::ensure!(!stdout.contains("Forwarding"), "it listened: {stdout}");
    Ok(stderr)
}

/// An echo server: each connection gets back what it sent, then a write shutdown once the
/// client shut down its own write side.
async fn echo_server() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    Ok(port)
}

/// A server that reads until the client half-closes, then answers with the SHA-256 (hex) and
/// the length of what it read.
async fn hash_server() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
                let mut buf = vec![0u8; 256 * 1024];
                let mut n = 0u64;
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => {
                            ctx.update(&buf[..k]);
                            n += k as u64;
                        }
                    }
                }
                let reply = format!("{} {n}\n", hex(ctx.finish().as_ref()));
                let _ = s.write_all(reply.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    Ok(port)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A port on which nothing listens, held by a socket that is bound but never listens: a
/// connection to it is refused, and while the socket lives no other test's listener can take
/// the port, nor can a connection pick it as its own source port and connect to itself
/// (releasing a bound port instead let a parallel test's socket answer there).
fn closed_port() -> Result<(tokio::net::TcpSocket, u16)> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind("127.0.0.1:0".parse()?)?;
    let port = socket.local_addr()?.port();
    Ok((socket, port))
}

/// Asserts that the forwarded connection `s` is reset (or at worst closed) within 10 s,
/// without any data.
/// The connection (as `connect` gave it) is reset promptly. A reset that comes before the
/// connect has returned surfaces as the connect's own error: that is prompt too.
async fn assert_reset(conn: Result<TcpStream>) -> Result<()> {
    let mut s = match conn {
        Ok(s) => s,
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset) =>
        {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    let mut buf = [0u8; 16];
    match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
        Err(_) => bail!("the refused connection hung instead of being reset"),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
        Ok(other) => bail!("expected a reset, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_256_mib_keeps_its_sha256_and_half_close_gets_the_reply() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let port = hash_server().await?;
    let spec = format!("0:127.0.0.1:{port}");
    let fwd = Forward::start(&h.admin, "web-1", &[&spec], h.dir.path()).await?;

    let mut block = vec![0u8; 1024 * 1024];
    fastrand::fill(&mut block);
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let total: u64 = 256;
    let s = fwd.connect(0).await?;
    let (mut r, mut w) = s.into_split();
    for i in 0..total {
        // Vary each MiB so that a reordered or repeated chunk changes the hash.
        block[..8].copy_from_slice(&i.to_be_bytes());
        ctx.update(&block);
        w.write_all(&block).await?;
    }
    // Half-close: the server answers only after our end of stream, on the other direction.
    w.shutdown().await?;
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(60), r.read_to_string(&mut reply)).await??;
    let want = format!("{} {}\n", hex(ctx.finish().as_ref()), total * 1024 * 1024);
    assert_eq!(reply, want, "wicket stderr: {}", fwd.stderr());

    // The server logged one record for the connection, with the bytes each way (and one for
    // the check before the forward listened).
    let bytes = format!("bytes_to_dest={}", total * 1024 * 1024);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let logs = h.server.logs();
        let checked = logs
            .lines()
            .filter(|l| l.contains("forwarded connection") && l.contains("check=true"))
            .count();
        assert!(checked <= 1, "{logs}");
        if let Some(line) = logs
            .lines()
            .find(|l| l.contains("forwarded connection") && l.contains("check=false"))
        {
            assert!(line.contains(&bytes), "{line}");
            let back = format!("bytes_from_dest={}", reply.len());
            assert!(line.contains(&back), "{line}");
            assert!(
                line.contains("user=admin") && line.contains("target=web-1"),
                "{line}"
            );
            assert!(line.contains(&format!("dest_port={port}")), "{line}");
            assert!(
                line.contains("outcome=\"closed\"") || line.contains("outcome=closed"),
                "{line}"
            );
            break;
        }
        if std::time::Instant::now() > deadline {
            bail!("no forward record in the server log");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Ctrl-C ends `wicket forward` cleanly.
    let mut child = fwd.child;
    let pid = nix::unistd::Pid::from_raw(child.id().context("pid")? as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT)?;
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await??;
    assert!(status.success(), "{status}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_connections_through_one_forward() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let echo = echo_server().await?;
    let hash = hash_server().await?;
    // Two specs on one command line, one link.
    let specs = [
        format!("0:localhost:{echo}"),
        format!("127.0.0.1:0:127.0.0.1:{hash}"),
    ];
    let fwd = Forward::start(&h.admin, "web-1", &[&specs[0], &specs[1]], h.dir.path()).await?;
    let port = fwd.ports[0];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200u32 {
        tasks.spawn(async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
            let msg: Vec<u8> = (0..16 * 1024)
                .map(|j| (i as usize * 31 + j) as u8)
                .collect();
            s.write_all(&msg).await?;
            s.shutdown().await?;
            let mut back = Vec::new();
            s.read_to_end(&mut back).await?;
            anyhow::ensure!(back == msg, "connection {i}: echo differs");
            Ok::<_, anyhow::Error>(())
        });
    }
    let all = tokio::time::timeout(Duration::from_secs(120), async {
        let mut n = 0;
        while let Some(r) = tasks.join_next().await {
            r?.with_context(|| fwd.stderr())?;
            n += 1;
        }
        Ok::<_, anyhow::Error>(n)
    })
    .await
    .context("200 connections did not finish in 120 s")??;
    assert_eq!(all, 200, "{}", fwd.stderr());

    // The second spec of the same command works too.
    let mut s = fwd.connect(1).await?;
    s.write_all(b"abc").await?;
    s.shutdown().await?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).await?;
    assert!(reply.ends_with(" 3\n"), "{reply}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_metadata_destinations_reset_promptly() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let (_held, closed) = closed_port()?;
    let specs = [
        format!("0:127.0.0.1:{closed}"),
        "0:169.254.169.254:80".to_string(),
    ];
    let fwd = Forward::start(&h.admin, "web-1", &[&specs[0], &specs[1]], h.dir.path()).await?;

    assert_reset(fwd.connect(0).await).await?;
    // The agent refuses the metadata address itself; nothing is ever sent towards it.
    assert_reset(fwd.connect(1).await).await?;

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let err = fwd.stderr();
        if err.contains("169.254.169.254") && err.contains(&format!("127.0.0.1:{closed}")) {
            assert!(err.contains("link-local"), "{err}");
            assert!(err.contains("--forward-allow"), "{err}");
            assert!(err.to_lowercase().contains("refused"), "{err}");
            break;
        }
        if std::time::Instant::now() > deadline {
            bail!("wicket did not explain the refusals: {err}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The forward itself keeps running after refusals.
    let echo = echo_server().await?;
    let spec = format!("0:127.0.0.1:{echo}");
    let fwd2 = Forward::start(&h.admin, "web-1", &[&spec], h.dir.path()).await?;
    let mut s = fwd2.connect(0).await?;
    s.write_all(b"ping").await?;
    s.shutdown().await?;
    let mut back = String::new();
    s.read_to_string(&mut back).await?;
    assert_eq!(back, "ping");
    Ok(())
}

fn policy(allowed_port: u16) -> String {
    format!(
        r#"@id("admins")
permit(principal, action, resource) when {{ principal.admin }};

@id("everyone-lists")
permit(principal, action == Wicket::Action::"list_targets", resource);

@id("devs-forward-one-port")
permit(
    principal in Wicket::Group::"devs",
    action == Wicket::Action::"forward",
    resource
) when {{ context has dest_port && context.dest_port == {allowed_port} }};
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_outside_policy_is_refused_and_revocation_ends_it() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let echo = echo_server().await?;
    let other = echo_server().await?;
    h.admin.set_policies(&policy(echo)).await?;
    let bob = h.user("bob", "bob-password-123").await?;
    h.admin.ok(&["admin", "groups", "create", "devs"]).await?;
    h.admin
        .ok(&["admin", "groups", "add-member", "devs", "bob"])
        .await?;

    let specs = [
        format!("0:127.0.0.1:{echo}"),
        format!("0:127.0.0.1:{other}"),
    ];
    // Outside the policy, or to a target that does not exist: refused before anything
    // listens, with the server's reason (the rule that was missing).
    let err = refused_before_listening(&bob, "web-1", &[&specs[0], &specs[1]]).await?;
    let want = format!(
        "bob may not forward to 127.0.0.1:{other} through target web-1: no policy permits it"
    );
    assert!(err.contains(&want), "{err}");
    let err = refused_before_listening(&bob, "no-such-host", &[&specs[0]]).await?;
    assert!(err.contains("unknown target \"no-such-host\""), "{err}");

    let fwd = Forward::start(&bob, "web-1", &[&specs[0]], h.dir.path()).await?;

    // Inside it: works, and stays open...
    let mut s = fwd.connect(0).await?;
    s.write_all(b"hello").await?;
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"hello");

    // ...until bob leaves the group: the live connection ends at once.
    h.admin
        .ok(&["admin", "groups", "remove-member", "devs", "bob"])
        .await?;
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    assert!(
        ended.is_ok(),
        "the forwarded connection outlived the revocation"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !fwd.stderr().contains("access revoked") {
        if std::time::Instant::now() > deadline {
            bail!("no revocation message: {}", fwd.stderr());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And new connections are refused.
    assert_reset(fwd.connect(0).await)
        .await
        .context("after the revocation")?;
    drop(fwd.child);
    Ok(())
}

/// An agent that speaks only protocol version 1 (an older build): the server refuses a forward
/// to it, before anything listens, with a message saying what to upgrade, instead of sending a
/// channel type it cannot decode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_to_a_version_1_agent_is_refused_clearly() -> Result<()> {
    let h = Harness::start(bins!()).await?;
    // Whatever reaches this agent is recorded: nothing should.
    let mut old = h.old_agent("old-1", 1).await?;

    let echo = echo_server().await?;
    let spec = format!("0:127.0.0.1:{echo}");
    let err = refused_before_listening(&h.admin, "old-1", &[&spec]).await?;
    assert!(err.contains("speaks protocol version 1"), "{err}");
    assert!(err.contains("upgrade wicket-agent"), "{err}");
    assert!(
        old.seen.try_recv().is_err(),
        "the old agent was sent a channel"
    );
    assert!(!old.mux.is_closed(), "the old agent's link was dropped");
    Ok(())
}

/// wicketd restarts under a running forward: the forward says it lost the link, keeps its
/// listener, dials again, says so, and a new connection through the same port works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_outlives_a_wicketd_restart() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let echo = echo_server().await?;
    let spec = format!("0:127.0.0.1:{echo}");
    let mut fwd = Forward::start(&h.admin, "web-1", &[&spec], h.dir.path()).await?;
    let round_trip = |port: u16| async move {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(b"ping").await?;
        s.shutdown().await?;
        let mut back = String::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut back)).await??;
        anyhow::Ok(back)
    };
    assert_eq!(round_trip(fwd.ports[0]).await?, "ping");

    h.server.restart()?;
    let back = wicket_testkit::wait_until(Duration::from_secs(30), || {
        fwd.stderr().contains("reconnected to wicketd")
    })
    .await;
    assert!(back, "the forward did not come back: {}", fwd.stderr());
    assert!(
        fwd.stderr().contains("the connection to wicketd was lost"),
        "{}",
        fwd.stderr()
    );
    assert!(fwd.child.try_wait()?.is_none(), "the forward exited");
    assert!(
        h.wait_online("web-1", true, Duration::from_secs(30))
            .await?,
        "the agent did not come back"
    );
    assert_eq!(round_trip(fwd.ports[0]).await?, "ping");
    Ok(())
}

/// A destination that accepts every connection and never reads: what a forward pushes at it
/// fills every window on the way and stays there. The accepted connections are kept.
async fn never_reading_server() -> Result<(u16, std::sync::Arc<std::sync::Mutex<Vec<TcpStream>>>)> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            keep.lock().expect("lock").push(s);
        }
    });
    Ok((port, held))
}

/// How many of the accepted connections there are now.
fn accepted(held: &std::sync::Mutex<Vec<TcpStream>>) -> usize {
    held.lock().map(|v| v.len()).unwrap_or(0)
}

/// Whether the TCP connection from 127.0.0.1:`local` to 127.0.0.1:`remote` is ESTABLISHED,
/// as the kernel lists it (`/proc/net/tcp`): how the agent's side of a forwarded connection is
/// seen without touching the agent.
fn established(local: u16, remote: u16) -> Result<bool> {
    let table = std::fs::read_to_string("/proc/net/tcp")?;
    let want = (
        format!("0100007F:{local:04X}"),
        format!("0100007F:{remote:04X}"),
    );
    Ok(table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[1] == want.0 && f[2] == want.1 && f[3] == "01"
    }))
}

/// Writes into `s` until nothing is taken for a second (or `most` bytes went in).
async fn fill(s: &mut TcpStream, most: usize) -> Result<usize> {
    let chunk = vec![7u8; 64 * 1024];
    let mut n = 0;
    while n < most {
        match tokio::time::timeout(Duration::from_secs(1), s.write(&chunk)).await {
            Ok(Ok(k)) => n += k,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => break,
        }
    }
    Ok(n)
}

/// A user's share of a target's channels: with 16 channels per user per agent, the 17th
/// forwarded connection is refused with the limit named, and so is a session; another user
/// still connects to the same target; connections that end give the share back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_over_their_channel_share_is_refused_and_others_still_connect() -> Result<()> {
    let mut h =
        Harness::start_with(bins!(), &[("WICKET_MAX_USER_CHANNELS_PER_AGENT", "16")]).await?;
    h.add_agent("web-1").await?;
    h.admin
        .set_policies("@id(\"all\")\npermit(principal, action, resource);\n")
        .await?;
    let bob = h.user("bob", "bob-password-123").await?;
    let (dest, held) = never_reading_server().await?;
    let spec = format!("0:127.0.0.1:{dest}");
    let fwd = Forward::start(&h.admin, "web-1", &[&spec], h.dir.path()).await?;

    // 16 connections reach the destination and stay open.
    let mut open = Vec::new();
    for _ in 0..16 {
        open.push(fwd.connect(0).await?);
    }
    let all_in = wicket_testkit::wait_until(Duration::from_secs(20), || accepted(&held) == 16);
    assert!(
        all_in.await,
        "{} of 16 reached the destination",
        accepted(&held)
    );

    // The 17th to 20th are refused, saying why.
    for _ in 0..4 {
        assert_reset(fwd.connect(0).await)
            .await
            .context("over the share")?;
    }
    let want = "you already have 16 channels open to web-1 (the limit per user is 16)";
    let told = wicket_testkit::wait_until(Duration::from_secs(5), || fwd.stderr().contains(want));
    assert!(told.await, "no refusal naming the limit: {}", fwd.stderr());
    assert_eq!(
        accepted(&held),
        16,
        "a refused connection reached the destination"
    );

    // Sessions count too: admin's own session is refused the same way...
    let out = h
        .admin
        .run(&["connect", "web-1", "--", "echo hi"], None)
        .await?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(want), "{err}");
    // ...while another user connects to the same target.
    let out = bob
        .run(&["connect", "web-1", "--", "echo hi"], None)
        .await?;
    assert!(out.status.success(), "{}", wicket_testkit::cli::show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");

    // Once those connections end (at both ends), the share is given back.
    open.clear();
    held.lock().expect("lock").clear();
    let mut reopened = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while reopened.len() < 16 {
        let before = accepted(&held);
        let s = fwd.connect(0).await?;
        if wicket_testkit::wait_until(Duration::from_secs(2), || accepted(&held) > before).await {
            reopened.push(s);
        } else if std::time::Instant::now() > deadline {
            bail!("the share was not given back: {}", fwd.stderr());
        }
    }
    Ok(())
}

/// When a user's link goes while its forwarded connections are stalled (the destination does
/// not read, so every window is full), the agent's connections to the destination are reset
/// at once rather than left established with their buffers for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_forward_link_closes_the_agents_stalled_connections() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let (dest, held) = never_reading_server().await?;
    let spec = format!("0:127.0.0.1:{dest}");
    let mut fwd = Forward::start(&h.admin, "web-1", &[&spec], h.dir.path()).await?;

    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut s = fwd.connect(0).await?;
        let n = fill(&mut s, 64 << 20).await?;
        assert!(
            n > 4 << 20,
            "only {n} bytes went in before the forward stalled"
        );
        clients.push(s);
    }
    assert!(
        wicket_testkit::wait_until(Duration::from_secs(10), || accepted(&held) == 4).await,
        "the destination has {} connections",
        accepted(&held)
    );
    // The agent's ends, as the destination sees them.
    let agent_ports: Vec<u16> = held
        .lock()
        .expect("lock")
        .iter()
        .map(|s| s.peer_addr().map(|a| a.port()))
        .collect::<std::io::Result<_>>()?;
    for &p in &agent_ports {
        assert!(established(p, dest)?, "agent port {p} not established");
    }

    // The user's link goes.
    fwd.child.start_kill()?;
    fwd.child.wait().await?;
    drop(clients);

    let gone = wicket_testkit::wait_until(Duration::from_secs(10), || {
        agent_ports
            .iter()
            .all(|&p| !established(p, dest).unwrap_or(true))
    });
    assert!(
        gone.await,
        "the agent kept its connections to the destination established after the link went"
    );
    // And the destination, reading at last, finds each connection ended.
    let conns: Vec<TcpStream> = std::mem::take(&mut *held.lock().expect("lock"));
    for mut s in conns {
        let mut buf = vec![0u8; 1 << 20];
        let end = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(end.is_ok(), "a destination connection did not end");
    }
    Ok(())
}

//! "No inbound port": an agent in a network namespace of its own, whose only link to the
//! world is a veth pair to the host, enrols and serves sessions while nothing in its namespace
//! listens, and (when `iptables` or `nft` is installed) while every new inbound connection to
//! the namespace is dropped.
//!
//! Layout, all made by this test and removed when it ends (even on failure):
//!
//! ```text
//!  host namespace                                   namespace wkt-<pid>
//!  wicketd 127.0.0.1:S  <- forwarder 10.231.n.1:F  <-veth->  10.231.n.2  wicket-agent
//! ```
//!
//! The forwarder is a task in this test process that splices each connection to the server
//! (the harness server listens on loopback only). The server certificate also names
//! 10.231.n.1 (`WICKET_TLS_NAMES`), so the agent dials `https://10.231.n.1:F` with the CA pinned.
//! Traffic only ever goes between the two ends of that veth pair.
//!
//! Needs root, `ip` and `ss`; otherwise the test is ignored (`has_netns`, see `build.rs`),
//! unless `WICKET_REQUIRE_NETNS=1`, in which case it fails.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::net::{TcpListener, TcpStream};
use wicket_testkit::cli::show;
use wicket_testkit::{bins, find_tool, AgentProc, Harness};

const NAME: &str = "sealed";

fn required() -> bool {
    std::env::var("WICKET_REQUIRE_NETNS").as_deref() == Ok("1")
}

/// Runs a setup command; its stderr is the error.
fn run(program: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("spawn {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "`{} {}` failed ({}): {}",
            program.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The namespace and the veth pair; removed on drop.
struct NetNs {
    ip: PathBuf,
    name: String,
    host_if: String,
    ns_if: String,
    /// 10.231.n.0/30: .1 on the host side, .2 in the namespace.
    n: u8,
}

impl NetNs {
    fn host_addr(&self) -> String {
        format!("10.231.{}.1", self.n)
    }

    fn ns_addr(&self) -> String {
        format!("10.231.{}.2", self.n)
    }

    /// Creates everything, or says why it could not.
    fn create(ip: PathBuf) -> Result<NetNs> {
        let pid = std::process::id();
        // A /30 no interface on this host uses yet.
        let used = run(&ip, &["-4", "-o", "addr", "show"])?;
        let n = (0..256u32)
            .map(|k| ((pid + k) % 256) as u8)
            .find(|n| !used.contains(&format!(" 10.231.{n}.")))
            .context("no free 10.231.n.0/30 block")?;
        let ns = NetNs {
            ip,
            name: format!("wkt-{pid}"),
            host_if: format!("wkt{pid}h"),
            ns_if: format!("wkt{pid}n"),
            n,
        };
        // From here on, drop cleans up whatever was made.
        let ip = ns.ip.clone();
        run(&ip, &["netns", "add", &ns.name])?;
        run(
            &ip,
            &[
                "link",
                "add",
                &ns.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &ns.ns_if,
            ],
        )?;
        run(&ip, &["link", "set", &ns.ns_if, "netns", &ns.name])?;
        run(
            &ip,
            &[
                "addr",
                "add",
                &format!("{}/30", ns.host_addr()),
                "dev",
                &ns.host_if,
            ],
        )?;
        run(&ip, &["link", "set", &ns.host_if, "up"])?;
        run(&ip, &["-n", &ns.name, "link", "set", "lo", "up"])?;
        run(
            &ip,
            &[
                "-n",
                &ns.name,
                "addr",
                "add",
                &format!("{}/30", ns.ns_addr()),
                "dev",
                &ns.ns_if,
            ],
        )?;
        run(&ip, &["-n", &ns.name, "link", "set", &ns.ns_if, "up"])?;
        Ok(ns)
    }

    /// `ip netns exec NAME`, to prefix a command with.
    fn exec_prefix(&self) -> Vec<String> {
        vec![
            self.ip.display().to_string(),
            "netns".into(),
            "exec".into(),
            self.name.clone(),
        ]
    }

    /// Runs `program args` inside the namespace.
    fn exec(&self, program: &Path, args: &[&str]) -> Result<String> {
        let mut all: Vec<&str> = vec!["netns", "exec", &self.name];
        let program = program.display().to_string();
        all.push(&program);
        all.extend_from_slice(args);
        run(&self.ip, &all)
    }

    /// The namespace's inode, as `/proc/PID/ns/net` shows it (`net:[INODE]`).
    fn inode(&self) -> Result<u64> {
        Ok(std::fs::metadata(format!("/run/netns/{}", self.name))?.ino())
    }

    /// Drops every new inbound connection in the namespace with whichever of iptables and nft
    /// is installed; returns which one, or `None` if neither is.
    fn firewall(&self) -> Result<Option<&'static str>> {
        if let Some(iptables) = find_tool("iptables") {
            self.exec(
                &iptables,
                &[
                    "-A",
                    "INPUT",
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "NEW",
                    "-j",
                    "DROP",
                ],
            )?;
            let rules = self.exec(&iptables, &["-S", "INPUT"])?;
            eprintln!(
                "no_inbound: firewall: iptables ({}) in {}:\n{rules}",
                iptables.display(),
                self.name
            );
            return Ok(Some("iptables"));
        }
        if let Some(nft) = find_tool("nft") {
            let script = tempfile::NamedTempFile::new()?;
            std::fs::write(
                script.path(),
                "table inet wicket_no_inbound {\n\
                 \tchain input {\n\
                 \t\ttype filter hook input priority 0; policy accept;\n\
                 \t\tct state new drop\n\
                 \t}\n\
                 }\n",
            )?;
            self.exec(&nft, &["-f", &script.path().display().to_string()])?;
            let rules = self.exec(&nft, &["list", "ruleset"])?;
            eprintln!(
                "no_inbound: firewall: nft ({}) in {}:\n{rules}",
                nft.display(),
                self.name
            );
            return Ok(Some("nft"));
        }
        Ok(None)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth end inside it, and with it the pair; the
        // explicit link delete covers a pair that never made it into the namespace.
        let _ = Command::new(&self.ip)
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new(&self.ip)
            .args(["link", "del", &self.host_if])
            .stderr(Stdio::null())
            .status();
    }
}

/// Splices every connection to `listen` to `to`; counts connections.
async fn forwarder(listen: &str, to: u16) -> Result<(u16, Arc<AtomicUsize>)> {
    let listener = TcpListener::bind((listen, 0)).await?;
    let port = listener.local_addr()?.port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", to)).await {
                    let _ = upstream.set_nodelay(true);
                    let _ = inbound.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut upstream).await;
                }
            });
        }
    });
    Ok((port, count))
}

/// `/proc/PID/net/FILE` rows (header skipped) as whitespace-split fields.
fn proc_net(pid: u32, file: &str) -> Result<Vec<Vec<String>>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/{file}"))?;
    Ok(text
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect())
}

/// An IPv4 endpoint as `/proc/net/tcp` prints it.
fn proc_addr(ip: &str, port: u16) -> Result<String> {
    let ip: std::net::Ipv4Addr = ip.parse()?;
    Ok(format!(
        "{:08X}:{:04X}",
        u32::from_ne_bytes(ip.octets()),
        port
    ))
}

/// Tries to open a connection from the host into the namespace; returns what happened:
/// `connected`, an error kind such as `ConnectionRefused`, or `timed out`.
async fn probe_inbound(addr: &str, port: u16) -> String {
    match tokio::time::timeout(Duration::from_secs(1), TcpStream::connect((addr, port))).await {
        Ok(Ok(_)) => "connected".into(),
        Ok(Err(e)) => format!("{:?}", e.kind()),
        Err(_) => "timed out".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_netns),
    ignore = "needs root, `ip` and `ss` (Debian: iproute2) and permission to make a network namespace"
)]
async fn agent_needs_no_inbound_port() -> Result<()> {
    let started = std::time::Instant::now();
    let ip = find_tool("ip").context("the `ip` command (iproute2) is not installed")?;
    let ss = find_tool("ss").context("the `ss` command (iproute2) is not installed")?;
    let ns = NetNs::create(ip).context("cannot set up a network namespace")?;
    eprintln!(
        "no_inbound: namespace {} with {} (host {}) <-> {} (ns {})",
        ns.name,
        ns.host_if,
        ns.host_addr(),
        ns.ns_if,
        ns.ns_addr()
    );

    // Nothing listens in the new namespace, so a connection in is refused, not lost.
    let before = probe_inbound(&ns.ns_addr(), 22).await;
    assert_eq!(
        before, "ConnectionRefused",
        "a fresh namespace should refuse connections (RST) before any firewall"
    );

    let firewall = match ns.firewall() {
        Ok(f) => f,
        Err(e) if required() => {
            return Err(e.context("WICKET_REQUIRE_NETNS=1 and the inbound-drop rule failed"))
        }
        Err(e) => {
            eprintln!("!!! WARNING: no_inbound: iptables/nft is installed but the drop rule failed: {e:#}");
            eprintln!("!!! continuing with the listening-socket checks only");
            None
        }
    };
    match firewall {
        Some(tool) => {
            eprintln!("no_inbound: new inbound connections DROPPED in the namespace with {tool}")
        }
        None => eprintln!(
            "no_inbound: neither iptables nor nft usable: NO inbound drop rule; relying on the \
             no-listening-socket checks"
        ),
    }

    let tls_names = ns.host_addr();
    let mut h = Harness::start_with(bins!(), &[("WICKET_TLS_NAMES", tls_names.as_str())]).await?;
    let (fwd_port, forwarded) = forwarder(&ns.host_addr(), h.server.port).await?;
    let server_url = format!("https://{}:{fwd_port}", ns.host_addr());

    // Enrolment from inside the namespace: it too only dials out.
    let (id, code) = h.activation(&[]).await?;
    let state_dir = h.agent_dir(NAME);
    let prefix = ns.exec_prefix();
    let out = tokio::process::Command::new(&prefix[0])
        .args(&prefix[1..])
        .arg(&h.bins.agent)
        .arg("--state-dir")
        .arg(&state_dir)
        .arg("register")
        .args([
            "--server",
            &server_url,
            "--activation-id",
            &id,
            "--activation-code",
            &code,
            "--ca-fingerprint",
            &h.server.fingerprint,
            "--name",
            NAME,
        ])
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .stdin(Stdio::null())
        .output()
        .await?;
    assert!(
        out.status.success(),
        "register inside the namespace failed: {}",
        show(&out)
    );
    assert!(
        forwarded.load(Ordering::SeqCst) >= 1,
        "register succeeded without going through the veth forwarder"
    );

    let wrapper: Vec<&str> = prefix.iter().map(String::as_str).collect();
    let no_proxy = [
        ("HTTPS_PROXY", ""),
        ("https_proxy", ""),
        ("ALL_PROXY", ""),
        ("all_proxy", ""),
    ];
    let agent = AgentProc::run(&h.bins.agent, &state_dir, &wrapper, &no_proxy)?;
    let pid = agent.pid().context("agent pid")?;
    h.agents.push(agent);
    assert!(
        h.wait_online(NAME, true, Duration::from_secs(20)).await?,
        "the agent in namespace {} did not come online via {server_url}",
        ns.name
    );

    // The agent process really is in the namespace.
    let ns_link = format!("net:[{}]", ns.inode()?);
    let agent_ns = std::fs::read_link(format!("/proc/{pid}/ns/net"))?;
    assert_eq!(
        agent_ns.display().to_string(),
        ns_link,
        "the agent (pid {pid}) is not in namespace {}",
        ns.name
    );

    // (a) Nothing listens in the namespace: no TCP listener, no bound UDP or raw socket.
    let listening = ns.exec(&ss, &["-H", "-l", "-t", "-u", "-w", "-n", "-p"])?;
    assert!(
        listening.trim().is_empty(),
        "sockets listen inside the agent's namespace {}:\n{listening}",
        ns.name
    );
    for file in ["tcp", "tcp6"] {
        let listeners: Vec<_> = proc_net(pid, file)?
            .into_iter()
            .filter(|f| f.get(3).map(String::as_str) == Some("0A"))
            .collect();
        assert!(
            listeners.is_empty(),
            "/proc/{pid}/net/{file} has LISTEN sockets: {listeners:?}"
        );
    }
    for file in ["udp", "udp6", "raw", "raw6"] {
        let bound = proc_net(pid, file)?;
        assert!(
            bound.is_empty(),
            "/proc/{pid}/net/{file} has sockets: {bound:?}"
        );
    }
    // ...and the link is an outbound connection from the namespace to the forwarder.
    let remote = proc_addr(&ns.host_addr(), fwd_port)?;
    let established: Vec<_> = proc_net(pid, "tcp")?
        .into_iter()
        .filter(|f| f.get(2) == Some(&remote) && f.get(3).map(String::as_str) == Some("01"))
        .collect();
    assert!(
        !established.is_empty(),
        "no ESTABLISHED connection from the namespace to {} (= {remote}) in /proc/{pid}/net/tcp",
        server_url
    );

    // Connections in go nowhere: dropped by the firewall, or refused for want of a listener.
    for port in [22, fwd_port, h.server.port] {
        let r = probe_inbound(&ns.ns_addr(), port).await;
        match firewall {
            Some(tool) => assert_eq!(
                r,
                "timed out",
                "with the {tool} drop rule, a connection in to {}:{port} should be lost",
                ns.ns_addr()
            ),
            None => assert_eq!(
                r,
                "ConnectionRefused",
                "a connection in to {}:{port} should be refused: nothing listens",
                ns.ns_addr()
            ),
        }
    }

    // (b) A session through the agent runs inside the namespace and its output comes back.
    let out = h
        .admin
        .run(
            &[
                "connect",
                NAME,
                "--",
                "echo inside; readlink /proc/self/ns/net; cat /proc/net/dev",
            ],
            None,
        )
        .await?;
    assert!(
        out.status.success(),
        "connect to the namespaced agent failed: {}",
        show(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("inside"), "{}", show(&out));
    assert_eq!(
        lines.next(),
        Some(ns_link.as_str()),
        "session not in the namespace: {}",
        show(&out)
    );
    let devices: Vec<&str> = lines
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    let mut sorted = devices.clone();
    sorted.sort_unstable();
    let mut want = vec!["lo", ns.ns_if.as_str()];
    want.sort_unstable();
    assert_eq!(
        sorted,
        want,
        "the session sees other interfaces than lo and the veth: {}",
        show(&out)
    );

    // Still nothing listening after a session.
    let listening = ns.exec(&ss, &["-H", "-l", "-t", "-u", "-w", "-n", "-p"])?;
    assert!(
        listening.trim().is_empty(),
        "sockets listen after a session:\n{listening}"
    );

    eprintln!(
        "no_inbound: ok ({}; {} connection(s) via the forwarder) in {:.1}s",
        match firewall {
            Some(t) => format!("inbound NEW dropped with {t}"),
            None => "no firewall tool, listening-socket checks only".into(),
        },
        forwarded.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64()
    );
    // The harness (and the agent in the namespace) goes before the namespace itself.
    drop(h);
    drop(ns);
    Ok(())
}

//! `wicket forward TARGET [BIND_ADDR:]LOCAL_PORT:HOST:PORT...`: local ports forwarded through a
//! target, like `ssh -L`. Every accepted connection is its own channel on one link. The target
//! and the policy on each destination are checked before anything listens; a lost link is
//! dialed again while the listeners stay.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use wicket_dial::Backoff;
use wicket_mux::{Mux, MuxError};
use wicket_proto::{OpenSpec, TcpSpec, CHECK_VERSION};

use crate::args::ForwardArgs;
use crate::commands::connect::ConnectFailed;
use crate::profile::Config;

/// One `[BIND_ADDR:]LOCAL_PORT:HOST:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardSpec {
    /// Where to listen; `None`: loopback.
    pub bind: Option<String>,
    pub local_port: u16,
    /// Resolved on the target; brackets removed.
    pub host: String,
    pub port: u16,
}

impl fmt::Display for ForwardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", bracket(&self.host))?;
        write!(f, ":{}", self.port)
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Splits on `:` outside brackets; `[::1]` stays one field, without its brackets.
fn fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_brackets = false;
    let mut bracketed = false;
    for c in s.chars() {
        match c {
            '[' if !in_brackets && cur.is_empty() && !bracketed => {
                in_brackets = true;
                bracketed = true;
            }
            ']' if in_brackets => in_brackets = false,
            ':' if !in_brackets => {
                out.push(std::mem::take(&mut cur));
                bracketed = false;
            }
            '[' | ']' => return Err(format!("misplaced bracket in {s:?}")),
            c => {
                if bracketed && !in_brackets {
                    return Err(format!("text after ']' in {s:?}"));
                }
                cur.push(c);
            }
        }
    }
    if in_brackets {
        return Err(format!("unclosed '[' in {s:?}"));
    }
    out.push(cur);
    Ok(out)
}

fn port(s: &str, what: &str, zero_ok: bool) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(0) if !zero_ok => Err(format!("{what} 0 is not a port")),
        Ok(p) => Ok(p),
        Err(_) => Err(format!("{what} {s:?} is not a port number (1-65535)")),
    }
}

/// Parses `[BIND_ADDR:]LOCAL_PORT:HOST:PORT` (a local port of 0 picks a free one).
pub fn parse_spec(s: &str) -> Result<ForwardSpec, String> {
    let f = fields(s)?;
    let (bind, rest) = match f.len() {
        3 => (None, &f[..]),
        4 => (Some(f[0].clone()), &f[1..]),
        _ => {
            return Err(format!(
                "{s:?}: expected [BIND_ADDR:]LOCAL_PORT:HOST:PORT, e.g. 5432:db.internal:5432 \
                 (IPv6 addresses in brackets)"
            ))
        }
    };
    let local_port = port(&rest[0], "local port", true)?;
    let host = rest[1].clone();
    if host.is_empty() {
        return Err(format!("{s:?}: no destination host"));
    }
    let port = port(&rest[2], "port", false)?;
    Ok(ForwardSpec {
        bind,
        local_port,
        host,
        port,
    })
}

/// The local address to listen on: loopback by default, `*` or an empty BIND_ADDR for every
/// interface, `localhost` for 127.0.0.1.
pub fn bind_addr(spec: &ForwardSpec) -> Result<SocketAddr, String> {
    let ip = match spec.bind.as_deref() {
        None | Some("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some("") | Some("*") => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        Some(a) => a
            .parse()
            .map_err(|_| format!("bind address {a:?} is not an IP address (or * or localhost)"))?,
    };
    Ok(SocketAddr::new(ip, spec.local_port))
}

pub async fn forward(profile_name: Option<&str>, args: ForwardArgs) -> Result<i32> {
    let fail = |e: anyhow::Error| anyhow::Error::from(ConnectFailed(format!("{e:#}")));
    let (_, profile) = Config::load()
        .and_then(|c| c.selected(profile_name))
        .map_err(fail)?;
    let mut addrs = Vec::new();
    for spec in &args.specs {
        let addr = bind_addr(spec).map_err(|e| fail(anyhow::anyhow!(e)))?;
        addrs.push((addr, spec.clone()));
    }
    let (mux, version) = crate::link::open_versioned(&profile).await.map_err(fail)?;
    // Before listening: the target, and the policy on each destination, as a connection would
    // meet them. (A server older than version 5 cannot check without connecting.)
    if version >= CHECK_VERSION {
        for spec in &args.specs {
            check(&mux, &args.target, spec).await.map_err(fail)?;
        }
    }
    let mut listeners = Vec::new();
    for (addr, spec) in addrs {
        let listener = bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))
            .map_err(fail)?;
        listeners.push((listener, spec));
    }
    for (l, spec) in &listeners {
        let local = l.local_addr()?;
        outln!("Forwarding {local} -> {spec} via {}", args.target);
    }
    errln!("Press Ctrl-C to stop.");
    let (current, link) = watch::channel(Some(mux.clone()));
    tokio::spawn(keep_up(profile_name.map(str::to_owned), mux, current));
    let link = Link(link);
    let mut tasks = tokio::task::JoinSet::new();
    for (listener, spec) in listeners {
        tasks.spawn(serve(listener, spec, args.target.clone(), link.clone()));
    }
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = sigint.recv() => Ok(0),
        _ = sigterm.recv() => Ok(0),
        Some(Ok(Err(e))) = tasks.join_next() => Err(fail(e)),
    }
}

/// Asks the server whether a connection to `spec` through `target` would be let through (a
/// `tcp` request with `check` set: the same checks, nothing opened on the agent), and fails
/// with its reason if not.
async fn check(mux: &Mux, target: &str, spec: &ForwardSpec) -> Result<()> {
    let asked = mux
        .open(OpenSpec::Tcp(TcpSpec {
            target: Some(target.to_string()),
            host: spec.host.clone(),
            port: spec.port,
            check: true,
            ..TcpSpec::default()
        }))
        .await;
    match asked {
        Ok(channel) => {
            channel.split().0.close();
            Ok(())
        }
        // The server's words name the target or the destination.
        Err(MuxError::Rejected { reason, .. }) => anyhow::bail!("{reason}"),
        Err(e) => anyhow::bail!("{target}: {e}"),
    }
}

/// How long a connection accepted while the link to wicketd is down waits for it to come
/// back before it is refused (reset).
const OUTAGE_WAIT: Duration = Duration::from_secs(10);

/// The link every connection opens its channel on, as [`keep_up`] keeps it: `None` while it
/// is being dialed again.
#[derive(Clone)]
struct Link(watch::Receiver<Option<Mux>>);

impl Link {
    /// The live link, waiting up to [`OUTAGE_WAIT`] while it is down.
    async fn get(&self) -> Option<Mux> {
        let mut current = self.0.clone();
        let live = async {
            current
                .wait_for(|m| m.as_ref().is_some_and(|m| !m.is_closed()))
                .await
                .ok()
                .and_then(|m| m.clone())
        };
        tokio::time::timeout(OUTAGE_WAIT, live).await.ok().flatten()
    }
}

/// Keeps the forward's link up: when it drops, says so, dials again with backoff (reading the
/// profile each time, so a `wicket login` in another terminal meanwhile counts) and says when
/// it is back. The listeners stay open throughout.
async fn keep_up(profile_name: Option<String>, first: Mux, current: watch::Sender<Option<Mux>>) {
    let mut mux = first;
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        let why = mux.closed().await;
        let _ = current.send(None);
        errln!("wicket: the connection to wicketd was lost ({why}); reconnecting");
        let mut said = None;
        mux = loop {
            tokio::time::sleep(backoff.next_delay()).await;
            let attempt = async {
                let (_, profile) = Config::load()?.selected(profile_name.as_deref())?;
                crate::link::open(&profile).await
            };
            match attempt.await {
                Ok(m) => break m,
                Err(e) => {
                    let text = format!("{e:#}");
                    if said.as_ref() != Some(&text) {
                        errln!("wicket: cannot reconnect yet: {text}");
                        said = Some(text);
                    }
                }
            }
        };
        backoff.reset();
        errln!("wicket: reconnected to wicketd");
        let _ = current.send(Some(mux.clone()));
    }
}

/// Binds, dual-stack for the unspecified IPv6 address where the system allows it.
async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        // No IPv6 here: every interface means 0.0.0.0.
        Err(_) if addr.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) => Ok(TcpListener::bind(
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), addr.port()),
        )
        .await?),
        Err(e) => Err(e.into()),
    }
}

async fn serve(listener: TcpListener, spec: ForwardSpec, target: String, link: Link) -> Result<()> {
    loop {
        let (conn, peer) = match listener.accept().await {
            Ok(c) => c,
            // Out of file descriptors and the like: keep serving the connections we have.
            Err(e) => {
                errln!("wicket: accept on port {}: {e}", spec.local_port);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        tokio::spawn(connection(
            conn,
            peer,
            spec.clone(),
            target.clone(),
            link.clone(),
        ));
    }
}

/// One local connection: its own channel, reset promptly if the far side refuses or fails.
/// While the link is down it waits for the next one, briefly.
async fn connection(
    conn: TcpStream,
    peer: SocketAddr,
    spec: ForwardSpec,
    target: String,
    link: Link,
) {
    let _ = conn.set_nodelay(true);
    let request = OpenSpec::Tcp(TcpSpec {
        target: Some(target.clone()),
        host: spec.host.clone(),
        port: spec.port,
        peer: Some(peer.to_string()),
        ..TcpSpec::default()
    });
    let open = async {
        // Twice at most: the link may go between taking it and opening on it.
        for _ in 0..2 {
            let Some(mux) = link.get().await else {
                break;
            };
            match mux.open(request.clone()).await {
                Err(MuxError::LinkClosed(_)) => continue,
                Err(MuxError::Rejected { reason, .. }) => return Err(reason),
                other => return other.map_err(|e| e.to_string()),
            }
        }
        Err("not connected to wicketd (reconnecting)".to_string())
    };
    let channel = match open.await {
        Ok(c) => c,
        Err(reason) => {
            errln!("wicket: {peer} -> {spec} via {target}: {reason}");
            // SO_LINGER 0: the client sees a reset at once, not a clean end of stream.
            let _ = conn.set_zero_linger();
            return;
        }
    };
    let (r, w) = conn.into_split();
    let done = wicket_mux::splice(channel, r, w, |w| {
        let _ = w.as_ref().set_zero_linger();
        w.forget();
    })
    .await;
    if let Some(e) = done.error {
        errln!("wicket: {peer} -> {spec} via {target}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(bind: Option<&str>, local_port: u16, host: &str, port: u16) -> ForwardSpec {
        ForwardSpec {
            bind: bind.map(str::to_string),
            local_port,
            host: host.into(),
            port,
        }
    }

    #[test]
    fn specs_parse_like_ssh_l() {
        assert_eq!(
            parse_spec("5432:db.internal:5432"),
            Ok(spec(None, 5432, "db.internal", 5432))
        );
        assert_eq!(
            parse_spec("[::1]:8080:db:5432"),
            Ok(spec(Some("::1"), 8080, "db", 5432))
        );
        assert_eq!(
            parse_spec("0.0.0.0:80:localhost:8080"),
            Ok(spec(Some("0.0.0.0"), 80, "localhost", 8080))
        );
        assert_eq!(
            parse_spec("8080:[fd00::5]:443"),
            Ok(spec(None, 8080, "fd00::5", 443))
        );
        assert_eq!(
            parse_spec("*:2222:localhost:22"),
            Ok(spec(Some("*"), 2222, "localhost", 22))
        );
        assert_eq!(
            parse_spec(":0:localhost:22"),
            Ok(spec(Some(""), 0, "localhost", 22))
        );
        for bad in [
            "8080",
            "8080:db",
            "a:b:c:d:e",
            "99999:db:5432",
            "8080:db:0",
            "8080:db:x",
            "8080::5432",
            "[::1:8080:db:5432",
            "[::1]x:8080:db:5432",
            "::1:8080:db:5432",
        ] {
            assert!(parse_spec(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn bind_defaults_to_loopback() {
        let addr = |s: &str| bind_addr(&parse_spec(s).expect("spec")).expect("addr");
        assert_eq!(addr("8080:db:5432"), "127.0.0.1:8080".parse().expect("a"));
        assert_eq!(addr("[::1]:8080:db:5432"), "[::1]:8080".parse().expect("a"));
        assert_eq!(
            addr("localhost:1:db:5432"),
            "127.0.0.1:1".parse().expect("a")
        );
        assert_eq!(addr("*:1:db:5432"), "[::]:1".parse().expect("a"));
        assert!(bind_addr(&parse_spec("example.com:1:db:2").expect("spec")).is_err());
    }

    #[test]
    fn display_brackets_ipv6() {
        assert_eq!(spec(None, 1, "fd00::5", 443).to_string(), "[fd00::5]:443");
        assert_eq!(spec(None, 1, "db", 5432).to_string(), "db:5432");
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(s in "[0-9a-z:\\[\\]*.]{0,40}") {
            let _ = parse_spec(&s);
        }

        #[test]
        fn formatted_specs_parse_back(local in 0u16.., port in 1u16.., host in "[a-z][a-z0-9.-]{0,20}|[0-9a-f]{1,4}(:[0-9a-f]{1,4}){2,7}") {
            let text = format!("[::1]:{local}:{}:{port}", bracket(&host));
            proptest::prop_assert_eq!(parse_spec(&text), Ok(spec(Some("::1"), local, &host, port)));
        }
    }
}

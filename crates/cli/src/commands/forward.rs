//! `wicket forward TARGET [BIND_ADDR:]LOCAL_PORT:HOST:PORT...`: local ports forwarded through a
//! target, like `ssh -L`. Every accepted connection is its own channel on one link.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{Context, Result};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use wicket_mux::{Mux, MuxError};
use wicket_proto::{OpenSpec, TcpSpec};

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
    let mut listeners = Vec::new();
    for spec in &args.specs {
        let addr = bind_addr(spec).map_err(|e| fail(anyhow::anyhow!(e)))?;
        let listener = bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))
            .map_err(fail)?;
        listeners.push((listener, spec.clone()));
    }
    let mux = crate::link::open(&profile).await.map_err(fail)?;
    for (l, spec) in &listeners {
        let local = l.local_addr()?;
        outln!("Forwarding {local} -> {spec} via {}", args.target);
    }
    errln!("Press Ctrl-C to stop.");
    let mut tasks = tokio::task::JoinSet::new();
    for (listener, spec) in listeners {
        tasks.spawn(serve(listener, spec, args.target.clone(), mux.clone()));
    }
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = sigint.recv() => Ok(0),
        _ = sigterm.recv() => Ok(0),
        why = mux.closed() => Err(fail(anyhow::anyhow!("the link to the server was lost: {why}"))),
        Some(Ok(Err(e))) = tasks.join_next() => Err(fail(e)),
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

async fn serve(listener: TcpListener, spec: ForwardSpec, target: String, mux: Mux) -> Result<()> {
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
            mux.clone(),
        ));
    }
}

/// One local connection: its own channel, reset promptly if the far side refuses or fails.
async fn connection(
    conn: TcpStream,
    peer: SocketAddr,
    spec: ForwardSpec,
    target: String,
    mux: Mux,
) {
    let _ = conn.set_nodelay(true);
    let open = mux
        .open(OpenSpec::Tcp(TcpSpec {
            target: Some(target.clone()),
            host: spec.host.clone(),
            port: spec.port,
            peer: Some(peer.to_string()),
            ..TcpSpec::default()
        }))
        .await;
    let channel = match open {
        Ok(c) => c,
        Err(e) => {
            let reason = match e {
                MuxError::Rejected { reason, .. } => reason,
                other => other.to_string(),
            };
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

//! Outbound HTTP proxies: agents often sit in networks whose only way out is a proxy.
//!
//! Honours `HTTPS_PROXY` (or `https_proxy`, `ALL_PROXY`, `all_proxy`) and `NO_PROXY`, like curl.
//! The tunnel is a plain HTTP CONNECT; TLS to wicketd runs inside it end to end, so the proxy sees
//! only the host name and port.

use std::io;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A proxy to tunnel through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    /// `host:port` of the proxy.
    pub authority: String,
    /// `user:password` from the proxy URL, sent as Basic credentials.
    credentials: Option<String>,
}

impl Proxy {
    /// Parses `http://[user:pass@]host[:port]`; the scheme is optional and the port defaults to
    /// 80, as with curl.
    pub fn parse(value: &str) -> Option<Proxy> {
        let with_scheme = if value.contains("://") {
            value.to_string()
        } else {
            format!("http://{value}")
        };
        let url = url::Url::parse(&with_scheme).ok()?;
        if url.scheme() != "http" {
            tracing::warn!(proxy = %url.host_str().unwrap_or(""), "only http:// proxies are supported; ignoring");
            return None;
        }
        let host = match url.host()? {
            url::Host::Ipv6(a) => format!("[{a}]"),
            h => h.to_string(),
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let credentials = if url.username().is_empty() {
            None
        } else {
            Some(format!(
                "{}:{}",
                url.username(),
                url.password().unwrap_or_default()
            ))
        };
        Some(Proxy {
            authority: format!("{host}:{port}"),
            credentials,
        })
    }

    /// The proxy the environment asks for to reach `host`, if any.
    pub fn from_env(host: &str) -> Option<Proxy> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let value = get("HTTPS_PROXY")
            .or_else(|| get("https_proxy"))
            .or_else(|| get("ALL_PROXY"))
            .or_else(|| get("all_proxy"))?;
        // The first of NO_PROXY / no_proxy that is set wins, even when empty ("bypass nothing").
        let no_proxy = std::env::var("NO_PROXY")
            .or_else(|_| std::env::var("no_proxy"))
            .unwrap_or_default();
        if bypassed(&no_proxy, host) {
            return None;
        }
        Proxy::parse(&value)
    }

    /// Opens a TCP connection to the proxy and a CONNECT tunnel through it to `target`.
    pub async fn connect(&self, target: &str) -> io::Result<TcpStream> {
        let mut stream = TcpStream::connect(&self.authority).await?;
        stream.set_nodelay(true)?;
        let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(c) = &self.credentials {
            let b64 = base64::engine::general_purpose::STANDARD.encode(c);
            req.push_str(&format!("Proxy-Authorization: Basic {b64}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).await?;
        // Read the response head one byte at a time so nothing of the tunnel is consumed.
        let mut head = Vec::with_capacity(256);
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= 8192 {
                return Err(io::Error::other("proxy response header too long"));
            }
            let b = stream.read_u8().await.map_err(|e| {
                io::Error::new(e.kind(), format!("proxy closed the connection: {e}"))
            })?;
            head.push(b);
        }
        let text = String::from_utf8_lossy(&head);
        let status_line = text.lines().next().unwrap_or_default().to_string();
        let code = status_line.split_whitespace().nth(1).unwrap_or_default();
        if code != "200" {
            return Err(io::Error::other(format!(
                "proxy {} refused CONNECT {target}: {status_line}",
                self.authority
            )));
        }
        Ok(stream)
    }
}

/// Whether `NO_PROXY` exempts `host`: `*`, an exact name or address, or a domain suffix
/// (`example.com` and `.example.com` both cover `a.example.com`).
pub fn bypassed(no_proxy: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    no_proxy
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let bare = strip_port(&entry);
            let bare = bare.trim_start_matches('.');
            host == bare || host.ends_with(&format!(".{bare}"))
        })
}

/// `host:port` → `host`, `[v6]:port` → `v6`; a bare IPv6 address stays whole.
fn strip_port(entry: &str) -> &str {
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    if entry.parse::<std::net::IpAddr>().is_ok() {
        return entry;
    }
    match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => entry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_matching() {
        assert!(bypassed("localhost,.corp.example", "a.corp.example"));
        assert!(bypassed("corp.example", "corp.example"));
        assert!(bypassed("*", "anything"));
        assert!(!bypassed("corp.example", "evilcorp.example"));
        assert!(bypassed("127.0.0.1", "127.0.0.1"));
        assert!(bypassed("::1", "[::1]"));
        assert!(bypassed("[::1]:8443", "::1"));
        assert!(bypassed("example.com:8443", "example.com"));
    }

    #[test]
    fn proxy_urls() {
        let p = Proxy::parse("http://u:p@proxy:3128").unwrap();
        assert_eq!(p.authority, "proxy:3128");
        assert_eq!(p.credentials.as_deref(), Some("u:p"));
        assert_eq!(Proxy::parse("proxy").unwrap().authority, "proxy:80");
    }
}

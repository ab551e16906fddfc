//! The server's address as users type it.

use std::fmt;

use thiserror::Error;

#[derive(Debug, Error)]
#[error("invalid server URL {input:?}: {reason}")]
pub struct BadUrl {
    input: String,
    reason: String,
}

/// An `https://host[:port]` base URL. Users may omit the scheme; `http://` is refused because
/// wicket never speaks without TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    url: url::Url,
}

impl ServerUrl {
    pub fn parse(input: &str) -> Result<Self, BadUrl> {
        let bad = |reason: &str| BadUrl {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let with_scheme = if input.contains("://") {
            input.to_string()
        } else {
            format!("https://{input}")
        };
        let url = url::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "https" {
            return Err(bad("only https:// is supported"));
        }
        if url.host_str().is_none() {
            return Err(bad("no host"));
        }
        let mut url = url;
        url.set_path("");
        url.set_query(None);
        Ok(ServerUrl { url })
    }

    /// Host name or IP literal, without brackets.
    pub fn host(&self) -> String {
        match self.url.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => String::new(),
        }
    }

    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(443)
    }

    /// `host:port` as used in a CONNECT request and for TCP (IPv6 bracketed).
    pub fn authority(&self) -> String {
        match self.url.host() {
            Some(url::Host::Ipv6(a)) => format!("[{a}]:{}", self.port()),
            _ => format!("{}:{}", self.host(), self.port()),
        }
    }

    /// An absolute `https://` URL for an API path such as `/v1/targets`.
    pub fn https(&self, path: &str) -> String {
        format!("https://{}{}", self.authority(), path)
    }

    /// The `wss://` URL for a link path.
    pub fn wss(&self, path: &str) -> String {
        format!("wss://{}{}", self.authority(), path)
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "https://{}", self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_users_type() {
        let u = ServerUrl::parse("wicket.example.com:8443").unwrap();
        assert_eq!(u.to_string(), "https://wicket.example.com:8443");
        let u = ServerUrl::parse("https://[::1]:9000/ignored").unwrap();
        assert_eq!(u.authority(), "[::1]:9000");
        assert_eq!(u.host(), "::1");
        assert_eq!(ServerUrl::parse("https://h").unwrap().port(), 443);
        assert!(ServerUrl::parse("http://h").is_err());
    }
}

//! TCP forwards: a `tcp` channel the server opens becomes a connection from this host to the
//! destination it names.
//!
//! The agent resolves the destination itself and checks every resolved address against
//! [`ForwardOptions`] before connecting to that address (never to the name again, so a DNS
//! answer cannot change between the check and the connect). Link-local addresses, which is where
//! most cloud metadata services live (169.254.169.254, fd00:ec2::254), and Alibaba Cloud's
//! metadata address 100.100.100.200 are refused unless the operator allows them: a forward
//! must not hand out the host's cloud credentials.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use wicket_mux::IncomingChannel;
use wicket_proto::{ErrorCode, TcpSpec};

/// How long resolving and connecting to a destination may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What this agent forwards to.
#[derive(Clone, Debug, Default)]
pub struct ForwardOptions {
    /// Refuse every forward.
    pub disabled: bool,
    /// Networks allowed even though they are refused by default (link-local, metadata).
    pub allow: Vec<Cidr>,
}

impl ForwardOptions {
    /// Why a forward to `addr` is refused, if it is: some form of it ([`forms`]) is in a range
    /// refused by default, and the operator did not allow that form.
    pub fn refusal(&self, addr: IpAddr) -> Option<&'static str> {
        forms(addr).into_iter().find_map(|form| {
            let what = blocked_form(form)?;
            (!self.allow.iter().any(|c| c.contains(form))).then_some(what)
        })
    }
}

/// The address ranges refused by default, and what they are, judged on every form of the
/// address ([`forms`]): an IPv6 address that reaches 169.254.169.254 through a translator or
/// a tunnel is refused like 169.254.169.254.
pub fn blocked(addr: IpAddr) -> Option<&'static str> {
    forms(addr).into_iter().find_map(blocked_form)
}

fn blocked_form(addr: IpAddr) -> Option<&'static str> {
    match addr {
        // Alibaba Cloud's metadata service sits outside link-local, in carrier-grade NAT space.
        IpAddr::V4(v4) if v4 == Ipv4Addr::new(100, 100, 100, 200) => {
            Some("the cloud metadata service address 100.100.100.200")
        }
        IpAddr::V4(v4) => v4
            .is_link_local()
            .then_some("a link-local address (cloud metadata service range 169.254.0.0/16)"),
        IpAddr::V6(v6) => {
            if v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
                Some("the cloud metadata service address fd00:ec2::254")
            } else if v6.segments()[0] & 0xffc0 == 0xfe80 {
                Some("a link-local address (fe80::/10)")
            } else {
                None
            }
        }
    }
}

/// The address, and every IPv4 address an IPv6 address carries to the IPv4 world under a
/// translation or tunnelling scheme a host may route: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`), SIIT's IPv4-translated (`::ffff:0:a.b.c.d`), NAT64's
/// well-known prefix (`64:ff9b::/96`) and local-use prefix (`64:ff9b:1::/48`, where the
/// operator picks the prefix length, so each RFC 6052 position counts), 6to4 (`2002::/16`),
/// Teredo (`2001::/32`: server and obfuscated client) and ISATAP interface ids. One rule for
/// all of them, so a new spelling of the metadata address is one more arm here, not a
/// special case in a caller.
pub fn forms(addr: IpAddr) -> Vec<IpAddr> {
    let mut out = vec![addr];
    let IpAddr::V6(v6) = addr else {
        return out;
    };
    let b = v6.octets();
    let s = v6.segments();
    let v4 = |o: [u8; 4]| IpAddr::V4(Ipv4Addr::from(o));
    let last = v4([b[12], b[13], b[14], b[15]]);
    if let Some(mapped) = v6.to_ipv4_mapped() {
        out.push(IpAddr::V4(mapped));
    }
    // IPv4-compatible, but not :: and ::1.
    if s[..6] == [0; 6] && !matches!(s, [0, 0, 0, 0, 0, 0, 0, 0 | 1]) {
        out.push(last);
    }
    // SIIT IPv4-translated.
    if s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        out.push(last);
    }
    // NAT64, well-known prefix.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        out.push(last);
    }
    // NAT64, local-use prefix: /48, /56, /64 and /96 (RFC 6052 section 2.2; bits 64-71 are
    // the reserved "u" octet).
    if s[..3] == [0x64, 0xff9b, 1] {
        out.push(v4([b[6], b[7], b[9], b[10]]));
        out.push(v4([b[7], b[9], b[10], b[11]]));
        out.push(v4([b[9], b[10], b[11], b[12]]));
        out.push(last);
    }
    // 6to4: 2002:aabb:ccdd::/48.
    if s[0] == 0x2002 {
        out.push(v4([b[2], b[3], b[4], b[5]]));
    }
    // Teredo: the server's address, and the client's, stored inverted.
    if s[..2] == [0x2001, 0] {
        out.push(v4([b[4], b[5], b[6], b[7]]));
        out.push(v4([!b[12], !b[13], !b[14], !b[15]]));
    }
    // ISATAP interface identifier (::0:5efe:a.b.c.d or ::200:5efe:a.b.c.d).
    if s[4] & 0xfdff == 0 && s[5] == 0x5efe {
        out.push(last);
    }
    out
}

/// A network: `169.254.169.254/32`, `fe80::/10`, or a bare address (one host).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `addr` is in the network, as written: the forms of an address are judged one
    /// by one by [`ForwardOptions::refusal`]; an IPv6 network also holds IPv4 addresses in
    /// their mapped form.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), a) => {
                let a = match a {
                    IpAddr::V6(a) => a,
                    IpAddr::V4(a) => a.to_ipv6_mapped(),
                };
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim_matches(|c| c == '[' || c == ']')
            .parse()
            .map_err(|_| format!("{s:?} is not an address or network (e.g. 169.254.0.0/16)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Serves one `tcp` channel: connect, accept, splice until both directions end.
pub async fn serve(ch: IncomingChannel, spec: TcpSpec, opts: Arc<ForwardOptions>) {
    let id = spec.connection_id.clone().unwrap_or_default();
    let dest = display_dest(&spec.host, spec.port);
    let started = Instant::now();
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect(&spec, &opts)).await {
        Ok(Ok(s)) => s,
        Ok(Err(reason)) => {
            tracing::warn!(connection = %id, %dest, %reason, "forward refused");
            ch.reject(ErrorCode::ConnectFailed, &reason);
            return;
        }
        Err(_) => {
            let reason = format!("connecting to {dest} timed out");
            tracing::warn!(connection = %id, %dest, %reason, "forward refused");
            ch.reject(ErrorCode::ConnectFailed, &reason);
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let Ok(channel) = ch.accept() else { return };
    tracing::debug!(connection = %id, user = spec.user.as_deref().unwrap_or(""), %dest, %peer, "forward open");
    let (r, w) = stream.into_split();
    let done = wicket_mux::splice(channel, r, w, |w| {
        let _ = w.as_ref().set_zero_linger();
        w.forget();
    })
    .await;
    tracing::debug!(
        connection = %id,
        %dest,
        bytes_to_dest = done.received,
        bytes_from_dest = done.sent,
        ms = started.elapsed().as_millis() as u64,
        error = done.error.as_deref().unwrap_or(""),
        "forward closed"
    );
}

/// Resolves and connects, trying each allowed address in turn.
async fn connect(spec: &TcpSpec, opts: &ForwardOptions) -> Result<TcpStream, String> {
    let dest = display_dest(&spec.host, spec.port);
    if opts.disabled {
        return Err("this agent does not forward connections (--no-forwarding)".into());
    }
    if spec.port == 0 {
        return Err("port 0 is not a destination".into());
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((spec.host.as_str(), spec.port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", spec.host))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{} has no address", spec.host));
    }
    let mut refused = None;
    let mut last_err = None;
    for addr in addrs {
        if let Some(what) = opts.refusal(addr.ip()) {
            refused.get_or_insert(format!(
                "{dest} resolves to {}, {what}; the agent refuses it unless started with --forward-allow",
                addr.ip()
            ));
            continue;
        }
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last_err = Some(format!("cannot connect to {dest} ({addr}): {e}")),
        }
    }
    Err(last_err
        .or(refused)
        .unwrap_or_else(|| format!("cannot connect to {dest}")))
}

/// `host:port`, with brackets around an IPv6 address.
pub fn display_dest(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn metadata_and_link_local_are_refused_by_default() {
        let opts = ForwardOptions::default();
        for a in [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "febf::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "::a9fe:a9fe",
            "64:ff9b::a9fe:a9fe",
            "100.100.100.200",
            "::ffff:100.100.100.200",
            // NAT64 local-use, 6to4, SIIT, Teredo and ISATAP spellings of 169.254.169.254.
            "64:ff9b:1::a9fe:a9fe",
            "64:ff9b:1:a9fe:a9:fe00::",
            "2002:a9fe:a9fe::1",
            "::ffff:0:169.254.169.254",
            "::ffff:0:a9fe:a9fe",
            "2001:0:4136:e378:8000:63bf:5601:5601",
            "2001:0:a9fe:a9fe::1",
            "fe80::5efe:169.254.169.254",
            "2001:db8::5efe:a9fe:a9fe",
        ] {
            assert!(opts.refusal(ip(a)).is_some(), "{a} should be refused");
        }
        for a in [
            "127.0.0.1",
            "10.0.0.1",
            "::1",
            "::",
            "fd00:ec2::253",
            "fec0::1",
            "::ffff:10.1.2.3",
            "169.253.255.255",
            "169.255.0.0",
            "100.100.100.201",
            "100.64.0.1",
            "2002:a00:1::1",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "2606:4700::1111",
        ] {
            assert!(opts.refusal(ip(a)).is_none(), "{a} should be allowed");
        }
    }

    #[test]
    fn allow_list_overrides_the_default() {
        let opts = ForwardOptions {
            disabled: false,
            allow: vec!["169.254.169.254".parse().expect("cidr")],
        };
        assert!(opts.refusal(ip("169.254.169.254")).is_none());
        assert!(opts.refusal(ip("::ffff:169.254.169.254")).is_none());
        assert!(opts.refusal(ip("169.254.169.253")).is_some());
        let opts = ForwardOptions {
            disabled: false,
            allow: vec!["fe80::/10".parse().expect("cidr")],
        };
        assert!(opts.refusal(ip("fe80::1234")).is_none());
        assert!(opts.refusal(ip("fd00:ec2::254")).is_some());
    }

    #[test]
    fn cidr_parsing() {
        let c: Cidr = "169.254.0.0/16".parse().expect("cidr");
        assert!(c.contains(ip("169.254.9.9")));
        assert!(!c.contains(ip("169.255.0.0")));
        assert!("0.0.0.0/0"
            .parse::<Cidr>()
            .expect("cidr")
            .contains(ip("1.2.3.4")));
        assert!("[fd00:ec2::254]"
            .parse::<Cidr>()
            .expect("cidr")
            .contains(ip("fd00:ec2::254")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("db.internal".parse::<Cidr>().is_err());
        assert_eq!(
            "fe80::/10".parse::<Cidr>().expect("cidr").to_string(),
            "fe80::/10"
        );
    }
}

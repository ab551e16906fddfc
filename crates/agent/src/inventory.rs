//! What the host looks like, reported on every connect so the server's view stays current
//! after upgrades and address changes.

use wicket_proto::handshake::Inventory;

pub fn collect() -> Inventory {
    let uts = nix::sys::utsname::uname().ok();
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    Inventory {
        hostname,
        os: os_name(),
        kernel: uts
            .as_ref()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        arch: std::env::consts::ARCH.to_string(),
        addresses: addresses(),
        agent_version: crate::VERSION.to_string(),
        user: crate::process::own_user_name(),
    }
}

/// `PRETTY_NAME` from os-release, else the kernel's OS name.
fn os_name() -> String {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| std::env::consts::OS.to_string())
}

/// The host's non-loopback IP addresses.
fn addresses() -> Vec<String> {
    let mut out: Vec<String> = nix::ifaddrs::getifaddrs()
        .map(|addrs| {
            addrs
                .filter_map(|a| a.address)
                .filter_map(|s| {
                    if let Some(v4) = s.as_sockaddr_in() {
                        Some(std::net::IpAddr::V4(v4.ip()))
                    } else {
                        s.as_sockaddr_in6().map(|v6| std::net::IpAddr::V6(v6.ip()))
                    }
                })
                .filter(|ip| !ip.is_loopback())
                .map(|ip| ip.to_string())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn reports_something() {
        let inv = super::collect();
        assert!(!inv.hostname.is_empty());
        assert!(!inv.kernel.is_empty());
        assert_eq!(inv.agent_version, crate::VERSION);
    }
}

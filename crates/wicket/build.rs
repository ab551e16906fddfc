//! Marks the end-to-end tests this machine cannot run as ignored, with the reason, instead of
//! letting them pass without running: sets a `has_…` cfg for each need that is met (or made
//! mandatory with its `WICKET_REQUIRE_…=1`, as CI does). See `wicket_testprobe`.

use std::path::PathBuf;

use wicket_testprobe::{can_make_network_namespace, node_major, Probe};

fn main() {
    println!("cargo::rerun-if-changed=build.rs");

    // cp, and a session as the agent's own user: the agent switches users.
    Probe::new("has_root", "WICKET_REQUIRE_ROOT").root().emit();

    // no_inbound: a network namespace and a veth pair.
    Probe::new("has_netns", "WICKET_REQUIRE_NETNS")
        .root()
        .tools(&["ip", "ss"])
        .require(
            can_make_network_namespace(),
            "permission to make a network namespace",
            None,
        )
        .emit();

    // ssh_proxy: a real sshd (privilege separation needs root) and the OpenSSH clients.
    Probe::new("has_sshd", "WICKET_REQUIRE_SSH")
        .root()
        .tools(&["sshd", "ssh", "ssh-keygen", "scp", "rsync"])
        .emit();

    // everyday: rsync and git with `wicket exec` as their remote shell.
    Probe::new("has_rsync_git", "WICKET_REQUIRE_RSYNC_GIT")
        .tools(&["rsync", "git"])
        .emit();

    // recording, audit: an S3-compatible server.
    Probe::new("has_s3", "WICKET_REQUIRE_S3")
        .tools(&["s3s-fs"])
        .emit();

    // oidc: the OpenID Provider, an npm package run by node 20+.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo");
    let oidc = PathBuf::from(manifest_dir).join("../testkit/oidc");
    Probe::new("has_oidc", "WICKET_REQUIRE_OIDC")
        .tools(&["node"])
        .require(
            node_major().is_none_or(|v| v >= 20),
            "node 20 or later",
            None,
        )
        .require(
            oidc.join("node_modules/oidc-provider/package.json")
                .is_file(),
            "the provider's packages (`npm ci` in crates/testkit/oidc)",
            Some(&oidc),
        )
        .emit();

    // console: Debian's Chromium driven by npm playwright-core.
    let browser = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("../testkit/browser");
    Probe::new("has_chromium", "WICKET_REQUIRE_CHROMIUM")
        .tools(&["node", "chromium"])
        .require(
            browser
                .join("node_modules/playwright-core/package.json")
                .is_file(),
            "playwright-core (`npm ci` in crates/testkit/browser)",
            Some(&browser),
        )
        .emit();
}

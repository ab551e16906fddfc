//! What this machine offers the tests that need more than cargo: root, and optional tools.
//!
//! A test that cannot run here must say so in cargo's own summary (`ignored, needs s3s-fs: …`),
//! never print a warning into captured output and then pass. So the build script of a crate
//! with such tests describes each need with a [`Probe`], which sets a `cfg` when the need is
//! met, and the tests carry, for example:
//!
//! ```text
//! #[cfg_attr(not(has_s3), ignore = "needs s3s-fs: cargo install s3s-fs ...")]
//! ```
//!
//! With the probe's `WICKET_REQUIRE_<NAME>=1` (CI sets them all) the `cfg` is set even when the
//! need is not met: the tests run and fail, and the build warns, naming what is missing.
//!
//! Cargo is told to run the build script again when what it looked at changes: the
//! `WICKET_REQUIRE_*` variable, `PATH`, `HOME`, the tools found, the directories searched while
//! a tool is missing (so installing it later is noticed), `USER` for root, and whatever
//! [`Probe::require`] watches.
//!
//! The tests use [`find_tool`] too, so they run the tool the build script found.

#![forbid(unsafe_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One need of some tests, named by the `cfg` set when it is met.
#[derive(Debug)]
pub struct Probe {
    /// The `cfg` the tests test, e.g. `has_s3`.
    cfg: &'static str,
    /// `WICKET_REQUIRE_…`: when `1`, a missing need fails the tests instead of ignoring them.
    require_var: &'static str,
    /// What is missing, in words.
    missing: Vec<String>,
}

impl Probe {
    /// A need named `cfg`, made mandatory by `require_var=1`.
    pub fn new(cfg: &'static str, require_var: &'static str) -> Probe {
        Probe {
            cfg,
            require_var,
            missing: Vec::new(),
        }
    }

    /// The tests run as root (judged by the user running the build, which is the user running
    /// `cargo test`).
    pub fn root(self) -> Probe {
        println!("cargo::rerun-if-env-changed=USER");
        let root = is_root();
        self.require(root, "root", None)
    }

    /// Each of `tools` is an executable on `PATH`, in an sbin directory or in `~/.cargo/bin`.
    ///
    /// Cargo watches each tool found (its removal is noticed), and, while one is missing, every
    /// directory searched (its installation is noticed). Only while something is missing, then,
    /// does an unrelated change in those directories run the build script again.
    pub fn tools(mut self, tools: &[&str]) -> Probe {
        println!("cargo::rerun-if-env-changed=PATH");
        println!("cargo::rerun-if-env-changed=HOME");
        let mut any_missing = false;
        for tool in tools {
            match find_tool(tool) {
                Some(path) => println!("cargo::rerun-if-changed={}", path.display()),
                None => {
                    any_missing = true;
                    self.missing.push(format!("`{tool}`"));
                }
            }
        }
        if any_missing {
            for dir in search_dirs().into_iter().filter(|d| d.is_dir()) {
                println!("cargo::rerun-if-changed={}", dir.display());
            }
        }
        self
    }

    /// A need checked by the caller: `ok`, or `missing` says what is not there. `watch`, when
    /// given, is a file or directory whose change means the check must run again.
    pub fn require(mut self, ok: bool, missing: &str, watch: Option<&Path>) -> Probe {
        if let Some(path) = watch {
            println!("cargo::rerun-if-changed={}", path.display());
        }
        if !ok {
            self.missing.push(missing.to_string());
        }
        self
    }

    /// Declares the `cfg` and sets it when the need is met or required.
    pub fn emit(self) {
        println!("cargo::rustc-check-cfg=cfg({})", self.cfg);
        println!("cargo::rerun-if-env-changed={}", self.require_var);
        let required = std::env::var(self.require_var).as_deref() == Ok("1");
        if self.missing.is_empty() || required {
            println!("cargo::rustc-cfg={}", self.cfg);
        }
        if required && !self.missing.is_empty() {
            println!(
                "cargo::warning={}=1 but {} missing: the tests that need it will fail",
                self.require_var,
                self.missing.join(", ")
            );
        }
    }
}

/// Whether this process's effective user is root (from `/proc/self/status`, else `id -u`).
pub fn is_root() -> bool {
    let from_proc = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            // Uid: real effective saved filesystem
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        });
    from_proc.unwrap_or_else(|| {
        Command::new("id")
            .arg("-u")
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
    })
}

/// Where tools are looked for: `PATH`, then the sbin directories (root's tools are there even
/// when a user's `PATH` lacks them), then `~/.cargo/bin` (where `cargo install` puts them).
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from));
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.retain(|d| !d.as_os_str().is_empty());
    dirs
}

/// The executable `name` in the first of [`search_dirs`] that has it.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    search_dirs().into_iter().map(|d| d.join(name)).find(|p| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// The major version of the `node` on `PATH` (`v20.11.1` is 20), if it runs.
pub fn node_major() -> Option<u32> {
    let out = Command::new(find_tool("node")?)
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let version = String::from_utf8(out.stdout).ok()?;
    version
        .trim()
        .strip_prefix('v')?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// Whether this process may make a network namespace (root in a container may not): runs
/// `unshare --net true`. Without `unshare`, assumes it may.
pub fn can_make_network_namespace() -> bool {
    match find_tool("unshare") {
        Some(unshare) => Command::new(unshare)
            .args(["--net", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        None => true,
    }
}

//! Lays out each release binary's hot code together (see `order/README.md`): a keystroke then
//! runs on about fifty pages of code instead of a hundred and twenty, which is what a process
//! pays for after a typing pause.
//!
//! The lists go to the linker as `--symbol-ordering-file`, which lld knows and GNU ld and gold
//! do not, and which linker a build ends up with depends on the toolchain, its packaging and
//! the user's configuration. So the script asks the linker itself: it links an empty program
//! the way this build links, with the option, and passes the lists only if that works.
//! `WICKET_SYMBOL_ORDER=0` turns it off, `=1` skips the test (for a linker that the test gets
//! wrong; it must take lld's options through the C compiler's `-Xlinker`).

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    println!("cargo::rerun-if-changed=order");
    // Cargo re-runs a build script only for what it names; these can change the linker.
    for var in [
        "WICKET_SYMBOL_ORDER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let on = match env::var("WICKET_SYMBOL_ORDER").as_deref() {
        Ok("0") => false,
        Ok("1") => true,
        _ => env::var("PROFILE").as_deref() == Ok("release") && linker_takes_ordering(),
    };
    if !on {
        return;
    }
    let dir = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("order");
    for bin in ["wicketd", "wicket-agent", "wicket"] {
        let list = dir.join(format!("{bin}.txt"));
        if list.exists() {
            // -Xlinker pairs, not -Wl,: a comma in the checkout's path would split the latter.
            for arg in ordering_args(&list.display().to_string()) {
                println!("cargo::rustc-link-arg-bin={bin}={arg}");
            }
        }
    }
}

fn ordering_args(list: &str) -> [String; 4] {
    [
        "-Xlinker".into(),
        format!("--symbol-ordering-file={list}"),
        "-Xlinker".into(),
        "--no-warn-symbol-ordering".into(),
    ]
}

/// Whether an empty program, built for this target with this build's flags and linker, links
/// with the ordering options.
fn linker_takes_ordering() -> bool {
    let (Some(out), Some(target)) = (env::var_os("OUT_DIR"), env::var_os("TARGET")) else {
        return false;
    };
    let out = PathBuf::from(out);
    let source = out.join("ordering_probe.rs");
    let empty = out.join("ordering_probe.txt");
    if fs::write(&source, "fn main() {}\n").is_err() || fs::write(&empty, "").is_err() {
        return false;
    }
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let mut probe = Command::new(rustc);
    probe
        .arg("--target")
        .arg(target)
        .arg("-o")
        .arg(out.join("ordering_probe"))
        .arg(&source);
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    probe.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    if let Some(linker) = env::var_os("RUSTC_LINKER") {
        probe
            .arg("-C")
            .arg(format!("linker={}", linker.to_string_lossy()));
    }
    for arg in ordering_args(&empty.display().to_string()) {
        probe.arg("-C").arg(format!("link-arg={arg}"));
    }
    probe
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

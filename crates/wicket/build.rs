//! Lays out each release binary's hot code together (see `order/README.md`): a keystroke then
//! runs on about fifty pages of code instead of a hundred and twenty, which is what a process
//! pays for after a typing pause. Only where rustc links with lld by default (x86_64 Linux,
//! rustc 1.90 and later, hence the workspace's `rust-version`); `WICKET_SYMBOL_ORDER=0` turns
//! it off for a linker without `--symbol-ordering-file` (GNU ld, gold).

use std::env;
use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=order");
    println!("cargo::rerun-if-env-changed=WICKET_SYMBOL_ORDER");
    let release = env::var("PROFILE").as_deref() == Ok("release");
    let lld_default = env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu");
    let wanted = env::var("WICKET_SYMBOL_ORDER").as_deref() != Ok("0");
    if !(release && lld_default && wanted) {
        return;
    }
    let dir = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("order");
    for bin in ["wicketd", "wicket-agent", "wicket"] {
        let list = dir.join(format!("{bin}.txt"));
        if list.exists() {
            println!(
                "cargo::rustc-link-arg-bin={bin}=-Wl,--symbol-ordering-file={}",
                list.display()
            );
            println!("cargo::rustc-link-arg-bin={bin}=-Wl,--no-warn-symbol-ordering");
        }
    }
}

//! Marks the tests of links another user owns as ignored, with the reason, when the tests do
//! not run as root (the `has_root` cfg, unless `WICKET_REQUIRE_ROOT=1`); see `wicket_testprobe`.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    wicket_testprobe::Probe::new("has_root", "WICKET_REQUIRE_ROOT")
        .root()
        .emit();
}

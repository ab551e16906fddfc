//! Builds the web console (`web/` at the workspace root) into `$OUT_DIR/console`, where
//! `src/console/assets.rs` embeds it: `npm ci` when `web/node_modules` is missing or older
//! than the lockfile, then `node build.mjs` (esbuild). A machine without node can build with
//! `WICKET_CONSOLE_DIST=<dir>` naming a console built elsewhere (`npm run build` writes
//! `web/dist`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

const FILES: [&str; 3] = ["index.html", "app.js", "style.css"];

fn main() {
    let web =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("../../web");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it")).join("console");
    for watched in ["src", "build.mjs", "package.json", "package-lock.json"] {
        println!("cargo:rerun-if-changed={}", web.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=WICKET_CONSOLE_DIST");
    fs::create_dir_all(&out).expect("OUT_DIR is writable");

    if let Ok(dist) = env::var("WICKET_CONSOLE_DIST") {
        for name in FILES {
            for file in [name.to_string(), format!("{name}.gz")] {
                let from = Path::new(&dist).join(&file);
                fs::copy(&from, out.join(&file)).unwrap_or_else(|e| {
                    panic!("WICKET_CONSOLE_DIST: cannot copy {}: {e}", from.display())
                });
            }
        }
        return;
    }

    let installed = web.join("node_modules/.package-lock.json");
    if stale(&installed, &web.join("package-lock.json")) {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&web),
            "npm ci",
        );
    }
    run(
        Command::new("node")
            .arg("build.mjs")
            .env("WICKET_CONSOLE_OUT", &out)
            .current_dir(&web),
        "node build.mjs",
    );
}

/// Whether `made` is missing or older than `from`.
fn stale(made: &Path, from: &Path) -> bool {
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(made), modified(from)) {
        (Some(made), Some(from)) => made < from,
        _ => true,
    }
}

fn run(command: &mut Command, what: &str) {
    let status = command.status().unwrap_or_else(|e| {
        panic!(
            "building the web console needs node and npm ({what}: {e}); install them \
             (Debian: apt-get install nodejs npm) or set WICKET_CONSOLE_DIST to a built console"
        )
    });
    assert!(
        status.success(),
        "building the web console: `{what}` failed ({status})"
    );
}

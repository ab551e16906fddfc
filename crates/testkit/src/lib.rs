//! End-to-end test kit: real processes on loopback, never mocks.
//!
//! A [`Harness`] starts `wicketd serve` on `127.0.0.1:0` with its own data directory and
//! database (SQLite, or a throw-away PostgreSQL database when `WICKET_TEST_DATABASE_URL` is
//! set), creates an admin, logs a `wicket` CLI in, and can enrol and run agents. Processes are
//! killed when the harness drops; if the test is failing, their logs are printed first.
//!
//! # Layout
//! - [`procs`]: [`ServerProc`] and [`AgentProc`], the daemons.
//! - [`cli`]: [`Cli`], the `wicket` command with its own config home.
//! - [`harness`]: [`Harness`], the usual setup in one call.
//! - [`chromium`]: [`chromium::Chromium`], a real headless Chromium (node,
//!   `browser/driver.mjs`) for the web console's tests.
//! - [`oidc`]: [`oidc::Provider`], a real OpenID Provider (node, `oidc/provider.mjs`), and
//!   [`oidc::Browser`], which signs in through its forms.
//! - [`old_agent`]: [`Harness::old_agent`], an agent speaking an older protocol version.
//! - [`pty`]: [`Terminal`], driving a command through a real local PTY.
//! - [`s3`]: [`S3Server`], a real S3-compatible server (s3s-fs) for object-store tests.

pub mod chromium;
pub mod cli;
pub mod harness;
pub mod oidc;
pub mod old_agent;
pub mod procs;
pub mod pty;
pub mod s3;

pub use cli::Cli;
pub use harness::Harness;
pub use procs::{AgentProc, ServerProc};
pub use pty::Terminal;
pub use s3::S3Server;
/// Finds an optional tool where the build script that decided the test could run found it.
pub use wicket_testprobe::find_tool;

use std::path::PathBuf;

/// Paths of the three binaries under test; build it with [`bins!`] in the test crate, where
/// cargo sets `CARGO_BIN_EXE_*`.
#[derive(Clone, Debug)]
pub struct Bins {
    pub wicketd: PathBuf,
    pub agent: PathBuf,
    pub wicket: PathBuf,
}

#[macro_export]
macro_rules! bins {
    () => {
        $crate::Bins {
            wicketd: env!("CARGO_BIN_EXE_wicketd").into(),
            agent: env!("CARGO_BIN_EXE_wicket-agent").into(),
            wicket: env!("CARGO_BIN_EXE_wicket").into(),
        }
    };
}

/// Polls `f` every 50 ms until it returns true or `timeout` passes.
pub async fn wait_until(timeout: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    f()
}

//! A real S3-compatible server for object-store tests: `s3s-fs`, which keeps objects as files
//! under a folder (`cargo install s3s-fs --version 0.14.1 --features binary --locked`).
//!
//! Tests that need it carry `#[cfg_attr(not(has_s3), ignore = "needs s3s-fs: …")]` (the
//! `has_s3` flag comes from the test crate's build script, see `wicket_testprobe`), so
//! [`S3Server::start`] only runs where `s3s-fs` was found, and fails if it is not there.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

pub const ACCESS_KEY: &str = "wicket-test-access";
pub const SECRET_KEY: &str = "wicket-test-secret-key";

/// A running `s3s-fs` on loopback with one bucket.
pub struct S3Server {
    child: Child,
    bin: PathBuf,
    port: u16,
    pub root: PathBuf,
    pub endpoint: String,
    pub bucket: String,
}

impl S3Server {
    /// Starts `s3s-fs` over `root` with `bucket` created.
    pub async fn start(root: &Path, bucket: &str) -> Result<S3Server> {
        let bin = wicket_testprobe::find_tool("s3s-fs").context(
            "s3s-fs is not installed (cargo install s3s-fs --version 0.14.1 --features binary --locked)",
        )?;
        std::fs::create_dir_all(root.join(bucket))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = spawn(&bin, port, root)?;
        let server = S3Server {
            child,
            bin,
            port,
            root: root.to_path_buf(),
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: bucket.to_string(),
        };
        server.wait_listening().await?;
        Ok(server)
    }

    /// Starts again on the same port and folder, after [`S3Server::stop`].
    pub async fn restart(&mut self) -> Result<()> {
        self.stop();
        self.child = spawn(&self.bin, self.port, &self.root)?;
        self.wait_listening().await
    }

    async fn wait_listening(&self) -> Result<()> {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("s3s-fs did not listen on port {}", self.port)
    }

    /// Stops the server: an outage.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn(bin: &Path, port: u16, root: &Path) -> Result<Child> {
    Command::new(bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("spawn s3s-fs")
}

//! The `wicket` CLI as a user runs it, with a config home of its own.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::AsyncWriteExt;

#[derive(Clone, Debug)]
pub struct Cli {
    pub bin: PathBuf,
    /// `XDG_CONFIG_HOME` for this user: profiles never leak between test users.
    pub config_home: PathBuf,
}

impl Cli {
    pub fn command(&self) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.bin);
        c.env("XDG_CONFIG_HOME", &self.config_home)
            .env_remove("WICKET_PROFILE")
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy");
        c
    }

    /// Runs `wicket ARGS` with `stdin` (empty if `None`) and returns its output.
    pub async fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Output> {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("spawn wicket")?;
        let mut pipe = child.stdin.take().context("stdin")?;
        let input = stdin.map(<[u8]>::to_vec).unwrap_or_default();
        let writer = tokio::spawn(async move {
            let _ = pipe.write_all(&input).await;
        });
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .context("wicket did not finish within 60 s")??;
        let _ = writer.await;
        Ok(out)
    }

    /// Runs and returns stdout, failing with stderr if the command failed.
    pub async fn ok(&self, args: &[&str]) -> Result<String> {
        let out = self.run(args, None).await?;
        if !out.status.success() {
            anyhow::bail!(
                "wicket {args:?} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// `wicket admin policies set` with `text`, through a file as an operator would.
    pub async fn set_policies(&self, text: &str) -> Result<String> {
        std::fs::create_dir_all(&self.config_home)?;
        let file = self.config_home.join("policies.cedar");
        std::fs::write(&file, text)?;
        let path = file.to_str().context("non-UTF-8 path")?;
        self.ok(&["admin", "policies", "set", path]).await
    }

    pub async fn login(
        &self,
        server: &str,
        fingerprint: &str,
        user: &str,
        password: &str,
    ) -> Result<Output> {
        self.run(
            &[
                "login",
                "--server",
                server,
                "--ca-fingerprint",
                fingerprint,
                "--user",
                user,
                "--password-stdin",
            ],
            Some(format!("{password}\n").as_bytes()),
        )
        .await
    }
}

/// Stdout and stderr of an output, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

//! The usual end-to-end setup in one call.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;
use wicket_store::testing::{fresh_postgres_url, postgres_base_url, PgTestDb};

use crate::{AgentProc, Bins, Cli, ServerProc};

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

pub struct Harness {
    pub dir: TempDir,
    pub bins: Bins,
    pub server: ServerProc,
    /// A CLI logged in as `admin`.
    pub admin: Cli,
    pub agents: Vec<AgentProc>,
    _pg: Option<PgTestDb>,
}

impl Harness {
    /// A server with short heartbeats (so loss is noticed quickly) and a logged-in admin.
    pub async fn start(bins: Bins) -> Result<Harness> {
        Self::start_with(bins, &[]).await
    }

    /// As [`Harness::start`], with extra `WICKET_*` environment for the server.
    pub async fn start_with(bins: Bins, env: &[(&str, &str)]) -> Result<Harness> {
        let dir = tempfile::tempdir()?;
        let (database_url, pg) = match postgres_base_url() {
            Some(base) => {
                let (url, guard) = fresh_postgres_url(&base).await?;
                (url, Some(guard))
            }
            None => (
                format!("sqlite://{}", dir.path().join("wicket.db").display()),
                None,
            ),
        };
        let mut server_env: Vec<(String, String)> = vec![("WICKET_HEARTBEAT".into(), "1s".into())];
        server_env.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let data_dir = dir.path().join("server");
        std::fs::create_dir_all(&data_dir)?;
        let server = ServerProc::start(&bins.wicketd, &data_dir, &database_url, 0, &server_env)?;
        let admin = Cli {
            bin: bins.wicket.clone(),
            config_home: dir.path().join("cli-admin"),
        };
        let h = Harness {
            dir,
            bins,
            server,
            admin,
            agents: Vec::new(),
            _pg: pg,
        };
        h.create_user("admin", ADMIN_PASSWORD, true).await?;
        let out = h
            .admin
            .login(
                &h.server.url,
                &h.server.fingerprint,
                "admin",
                ADMIN_PASSWORD,
            )
            .await?;
        if !out.status.success() {
            bail!("admin login failed: {}", crate::cli::show(&out));
        }
        Ok(h)
    }

    /// A new user, logged in through their own CLI.
    pub async fn user(&self, name: &str, password: &str) -> Result<Cli> {
        self.create_user(name, password, false).await?;
        let cli = self.cli(name);
        let out = cli
            .login(&self.server.url, &self.server.fingerprint, name, password)
            .await?;
        if !out.status.success() {
            bail!("login of {name} failed: {}", crate::cli::show(&out));
        }
        Ok(cli)
    }

    /// A second wicketd on the same database (PostgreSQL: a replica), with `env` on top of
    /// the defaults, and the admin logged in to it through a CLI of its own. Like any replica
    /// it shares the first server's audit key, unless `env` names another key file.
    pub async fn second_server(&self, env: &[(String, String)]) -> Result<(ServerProc, Cli)> {
        let dir = self.dir.path().join("server-2");
        std::fs::create_dir_all(&dir)?;
        let key = self.server.data_dir.join("audit.key");
        let mut env = env.to_vec();
        if !env.iter().any(|(k, _)| k == "WICKET_AUDIT_KEY_FILE") {
            env.push(("WICKET_AUDIT_KEY_FILE".into(), key.to_string_lossy().into()));
        }
        let server =
            ServerProc::start(&self.bins.wicketd, &dir, &self.server.database_url, 0, &env)?;
        let admin = self.cli("admin-2");
        let out = admin
            .login(&server.url, &server.fingerprint, "admin", ADMIN_PASSWORD)
            .await?;
        if !out.status.success() {
            bail!(
                "admin login on the second server failed: {}",
                crate::cli::show(&out)
            );
        }
        Ok((server, admin))
    }

    /// A CLI with a config home of its own, not logged in.
    pub fn cli(&self, name: &str) -> Cli {
        Cli {
            bin: self.bins.wicket.clone(),
            config_home: self.dir.path().join(format!("cli-{name}")),
        }
    }

    /// `wicketd admin create-user`, on the server's data dir and database.
    pub async fn create_user(&self, name: &str, password: &str, admin: bool) -> Result<()> {
        let mut cmd = tokio::process::Command::new(&self.bins.wicketd);
        cmd.args([
            "admin",
            "create-user",
            name,
            "--password-stdin",
            "--data-dir",
        ])
        .arg(&self.server.data_dir)
        .arg("--database-url")
        .arg(&self.server.database_url);
        if admin {
            cmd.arg("--admin");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().context("stdin")?;
        stdin.write_all(format!("{password}\n").as_bytes()).await?;
        drop(stdin);
        let out = child.wait_with_output().await?;
        if !out.status.success() {
            bail!("create-user failed: {}", crate::cli::show(&out));
        }
        Ok(())
    }

    /// Creates an activation as admin; returns (id, code).
    pub async fn activation(&self, extra: &[&str]) -> Result<(String, String)> {
        let mut args = vec!["admin", "activations", "create", "--output", "json"];
        args.extend_from_slice(extra);
        let out = self.admin.ok(&args).await?;
        let v: serde_json::Value = serde_json::from_str(&out)?;
        Ok((
            v["id"].as_str().context("id")?.to_string(),
            v["code"].as_str().context("code")?.to_string(),
        ))
    }

    /// Enrols a new agent named `name` (state in the harness dir) and returns the register
    /// output.
    pub async fn register(&self, name: &str, id: &str, code: &str) -> Result<std::process::Output> {
        AgentProc::register(
            &self.bins.agent,
            &self.agent_dir(name),
            &[
                "--server",
                &self.server.url,
                "--activation-id",
                id,
                "--activation-code",
                code,
                "--ca-fingerprint",
                &self.server.fingerprint,
                "--name",
                name,
            ],
        )
    }

    pub fn agent_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("agent-{name}"))
    }

    /// Enrols and runs an agent, waiting until the server lists it online.
    pub async fn add_agent(&mut self, name: &str) -> Result<usize> {
        self.add_agent_tagged(name, &[]).await
    }

    /// As [`Harness::add_agent`], with `k=v` tags on its activation.
    pub async fn add_agent_tagged(&mut self, name: &str, tags: &[&str]) -> Result<usize> {
        let mut args = Vec::new();
        for t in tags {
            args.extend(["--tag", t]);
        }
        let (id, code) = self.activation(&args).await?;
        let out = self.register(name, &id, &code).await?;
        if !out.status.success() {
            bail!("register failed: {}", crate::cli::show(&out));
        }
        let agent = AgentProc::run(&self.bins.agent, &self.agent_dir(name), &[], &[])?;
        self.agents.push(agent);
        if !self
            .wait_online(name, true, Duration::from_secs(15))
            .await?
        {
            bail!("agent {name} did not come online");
        }
        Ok(self.agents.len() - 1)
    }

    /// Polls `wicket targets` until `name` has the wanted status; returns whether it did.
    pub async fn wait_online(&self, name: &str, online: bool, timeout: Duration) -> Result<bool> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.is_online(name).await.unwrap_or(false) == online {
                return Ok(true);
            }
            if std::time::Instant::now() > deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn is_online(&self, name: &str) -> Result<bool> {
        let out = self.admin.ok(&["targets", "--output", "json"]).await?;
        let v: serde_json::Value = serde_json::from_str(&out)?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .any(|t| t["name"] == name && t["online"] == true))
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- wicketd log ----\n{}", self.server.logs());
            for a in &self.agents {
                eprintln!("---- agent {} log ----\n{}", a.name, a.logs());
            }
        }
    }
}

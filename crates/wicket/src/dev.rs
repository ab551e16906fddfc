//! `wicketd dev`: the whole system on one machine in one command.
//!
//! Starts the server on its own data directory (SQLite, private CA), makes sure an `admin`
//! exists, enrols the `wicket-agent` binary that sits beside this one as a target named after
//! this host, writes a `dev` profile for the `wicket` CLI, and prints the line to type next.
//! An agent that exits is started again (`supervisor`); Ctrl-C stops the agent and the
//! server.

mod supervisor;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args as ClapArgs;
use wicket_agent::Identity;
use wicket_cli::profile::{Config, Profile};
use wicket_server::{now_ms, secrets, AppState, Server, ServerConfig};
use wicket_store::NewActivation;

#[derive(ClapArgs, Debug)]
pub struct DevArgs {
    /// Data directory (default: $XDG_DATA_HOME/wicket-dev or ~/.local/share/wicket-dev).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
}

const PROFILE: &str = "dev";

/// The server's data directory inside the dev one (beside `agent/`).
pub const SERVER_DIR: &str = "server";

pub async fn run(args: DevArgs) -> Result<()> {
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => default_data_dir()?,
    };
    // Everything under it (the server's data dir, the agent's key, the agent's log) is this
    // user's alone, as wicketd's own data dir is.
    wicket_server::private_dir(&data_dir)?;
    let data_dir = data_dir.canonicalize()?;
    // Embedded defaults; `WICKET_*` variables still apply (a recording store, say), except
    // where the dev command decides: the address, the data dir and a short heartbeat.
    let mut config = ServerConfig::default();
    config.apply_env(|k| std::env::var(k).ok())?;
    config.listen = args.listen;
    config.data_dir = data_dir.join(SERVER_DIR);
    config.heartbeat = Duration::from_secs(10);
    let ttl = config.token_ttl;
    let server = Server::bind(config).await?;
    let addr = server.local_addr()?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let url = if host.contains(':') {
        format!("https://[{host}]:{}", addr.port())
    } else {
        format!("https://{host}:{}", addr.port())
    };
    let fingerprint = server.ca_fingerprint().to_string();
    let state = server.state().clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_task = tokio::spawn(server.run(async {
        let _ = stop_rx.await;
    }));

    let password = ensure_admin(&state).await?;
    write_profile(&state, &url, &fingerprint, ttl).await?;
    let agent_bin = sibling("wicket-agent")?;
    let agent_dir = data_dir.join("agent");
    let identity = ensure_enrolled(&state, &agent_bin, &agent_dir, &url, &fingerprint).await?;
    let log_path = data_dir.join("agent.log");
    let mut agent = supervisor::Supervised::start(&agent_bin, &agent_dir, &log_path)?;
    wait_online(&state, &identity.target_id).await?;

    let wicket = display_path(&sibling("wicket")?);
    println!();
    println!("wicket dev environment is up.");
    println!();
    println!("  server          {url}");
    println!("  console         {url}/   (the browser will warn about wicketd's private CA)");
    println!("  CA fingerprint  {fingerprint}");
    match &password {
        Some(p) => println!("  admin           admin / {p}   (shown once)"),
        None => println!("  admin           admin (password shown on first start)"),
    }
    println!(
        "  agent           {} ({}), log in {}",
        identity.name,
        identity.target_id,
        log_path.display()
    );
    println!("  data            {}", data_dir.display());
    println!();
    println!("The wicket profile \"{PROFILE}\" is now current. Next:");
    println!();
    println!("  {wicket} connect {}", identity.name);
    println!();
    println!("Press Ctrl-C to stop.");

    agent
        .run(
            &state,
            &identity.target_id,
            crate::wicketd::shutdown_signal(),
        )
        .await;
    agent.stop().await;
    let _ = stop_tx.send(());
    let _ = server_task.await;
    println!("stopped.");
    Ok(())
}

fn default_data_dir() -> Result<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(x).join("wicket-dev"));
    }
    let home = std::env::var_os("HOME").context("HOME is not set; pass --data-dir")?;
    Ok(PathBuf::from(home).join(".local/share/wicket-dev"))
}

/// A binary installed beside this one (or named by `WICKET_AGENT_BIN` for the agent).
fn sibling(name: &str) -> Result<PathBuf> {
    if name == "wicket-agent" {
        if let Some(p) = std::env::var_os("WICKET_AGENT_BIN") {
            return Ok(PathBuf::from(p));
        }
    }
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .context("no directory for this executable")?
        .join(name);
    if !path.exists() {
        bail!(
            "{} not found; build all three binaries (cargo build --release)",
            path.display()
        );
    }
    Ok(path)
}

/// The path as the user can type it: relative to the working directory when below it.
fn display_path(p: &Path) -> String {
    match std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf))
    {
        Some(rel) => format!("./{}", rel.display()),
        None => p.display().to_string(),
    }
}

/// Creates `admin` on first start and returns its password then.
async fn ensure_admin(state: &AppState) -> Result<Option<String>> {
    if state.store().user_by_name("admin").await?.is_some() {
        return Ok(None);
    }
    let password = secrets::new_password();
    let hash = secrets::hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    state
        .store()
        .create_user("admin", &hash, true, now_ms())
        .await?;
    Ok(Some(password))
}

/// Issues a fresh token for `admin` and stores it as the current `dev` profile.
async fn write_profile(
    state: &AppState,
    url: &str,
    fingerprint: &str,
    ttl: Duration,
) -> Result<()> {
    let admin = state
        .store()
        .user_by_name("admin")
        .await?
        .context("admin vanished")?;
    let token = secrets::new_token();
    let now = now_ms();
    let expires_at = now + ttl.as_millis() as i64;
    state
        .store()
        .insert_token(
            &admin.id,
            &secrets::sha256(token.as_bytes()),
            now,
            expires_at,
        )
        .await?;
    let mut config = Config::load()?;
    config.put(
        PROFILE,
        Profile {
            server: url.to_string(),
            user: "admin".into(),
            ca_fingerprint: Some(fingerprint.to_string()),
            token: Some(token),
            expires_at: Some(expires_at),
            ..Profile::default()
        },
    );
    config.save()
}

/// Reuses the agent identity from an earlier run against this server, or enrols afresh
/// through the real `wicket-agent register`.
async fn ensure_enrolled(
    state: &AppState,
    agent_bin: &Path,
    dir: &Path,
    url: &str,
    fingerprint: &str,
) -> Result<Identity> {
    if let Ok(id) = Identity::load(dir) {
        let known = state.store().target_by_id(&id.target_id).await?.is_some();
        if known && id.server == url {
            return Ok(id);
        }
    }
    let code = secrets::new_activation_code();
    let now = now_ms();
    let activation = state
        .store()
        .create_activation(NewActivation {
            code_hash: secrets::sha256(code.as_bytes()),
            tags: [("env".to_string(), "dev".to_string())].into(),
            expires_at: now + 600_000,
            max_registrations: 1,
            created_by: "wicketd dev".into(),
            now,
        })
        .await?;
    let name = target_name(state).await?;
    let out = tokio::process::Command::new(agent_bin)
        .arg("--state-dir")
        .arg(dir)
        .args([
            "register",
            "--force",
            "--server",
            url,
            "--activation-id",
            &activation.id,
            "--ca-fingerprint",
            fingerprint,
            "--name",
            &name,
        ])
        .env("WICKET_ACTIVATION_CODE", &code)
        .output()
        .await
        .with_context(|| format!("cannot run {}", agent_bin.display()))?;
    if !out.status.success() {
        bail!(
            "agent enrolment failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(Identity::load(dir)?)
}

/// This host's name, made a valid target name, and unique among existing targets.
async fn target_name(state: &AppState) -> Result<String> {
    let raw = nix::unistd::gethostname()?.to_string_lossy().into_owned();
    let mut base: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(50)
        .collect();
    if base.is_empty() || base.starts_with('-') {
        base = format!("host{base}");
    }
    let mut name = base.clone();
    let mut n = 2;
    while state.store().target_by_name(&name).await?.is_some() {
        name = format!("{base}-{n}");
        n += 1;
    }
    Ok(name)
}

async fn wait_online(state: &AppState, target_id: &str) -> Result<()> {
    for _ in 0..150 {
        if state.agents().is_online(target_id) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the agent did not come online within 15 s; see its log")
}

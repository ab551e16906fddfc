//! `wicketd` arguments and commands.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args as ClapArgs, Parser, Subcommand};
use wicket_server::{secrets, Server, ServerConfig};
use wicket_store::Store;

#[derive(Parser, Debug)]
#[command(name = "wicketd", version, about = "The wicket control plane.")]
pub struct Args {
    /// TOML configuration file; `WICKET_*` variables and flags override it.
    #[arg(long, short, global = true, env = "WICKET_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the API and the links.
    Serve(ServeFlags),
    /// Bootstrap administration, directly on the database.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Start a complete local system: server, admin, an enrolled local agent, a CLI profile.
    Dev(crate::dev::DevArgs),
    /// The audit log's signing key.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Print the audit public key (hex Ed25519) for auditors to pin with
    /// `wicket audit verify --public-key`.
    PublicKey {
        #[command(flatten)]
        flags: ServeFlags,
    },
    /// Make this server's audit key the database's from now on, when the key that signed the
    /// chain so far is lost. The change is an event in the chain; checkpoints before it still
    /// verify, under the key it replaced. Servers still holding the old key stop signing.
    AdoptKey {
        #[command(flatten)]
        flags: ServeFlags,
    },
}

#[derive(ClapArgs, Debug, Default)]
pub struct ServeFlags {
    /// Address to listen on (default 0.0.0.0:8443).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Data directory (default /var/lib/wicketd).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// `postgres://...`; default SQLite in the data directory.
    #[arg(long)]
    pub database_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a user; prints a generated password once unless --password-stdin.
    CreateUser {
        /// The new user's name.
        name: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        flags: ServeFlags,
    },
}

/// The configuration in force: file, then environment, then flags.
pub fn config(file: Option<&std::path::Path>, flags: &ServeFlags) -> Result<ServerConfig> {
    let mut c = ServerConfig::load(file)?;
    if let Some(l) = flags.listen {
        c.listen = l;
    }
    if let Some(d) = &flags.data_dir {
        c.data_dir = d.clone();
    }
    if let Some(u) = &flags.database_url {
        c.database_url = Some(u.clone());
    }
    Ok(c)
}

pub async fn run(args: Args) -> Result<()> {
    // What wicketd writes (database, keys, recordings, the audit sink) is its user's alone,
    // whatever the caller's umask; the files that matter are also created private explicitly.
    // Not under `dev`, whose agent child would pass the mask on to users' shells.
    if !matches!(args.command, Command::Dev(_)) {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    }
    match args.command {
        Command::Serve(flags) => {
            crate::logging::init("info");
            serve(config(args.config.as_deref(), &flags)?).await
        }
        Command::Admin { command } => match command {
            AdminCommand::CreateUser {
                name,
                admin,
                password_stdin,
                flags,
            } => {
                create_user(
                    &existing(config(args.config.as_deref(), &flags)?),
                    &name,
                    admin,
                    password_stdin,
                )
                .await
            }
        },
        Command::Audit {
            command: AuditCommand::AdoptKey { flags },
        } => adopt_key(&existing(config(args.config.as_deref(), &flags)?)).await,
        Command::Audit {
            command: AuditCommand::PublicKey { flags },
        } => {
            let c = existing(config(args.config.as_deref(), &flags)?);
            let path = c.audit_key_path();
            let key = wicket_server::audit::read_key(&path).with_context(|| {
                format!(
                    "no audit key at {}: pass the data directory of a wicketd that has served \
                     (its key is created at the first start), or the one of `wicketd dev`",
                    path.display()
                )
            })?;
            println!("{}", hex::encode(key.public_key()));
            Ok(())
        }
        Command::Dev(dev) => {
            crate::logging::init("warn");
            crate::dev::run(dev).await
        }
    }
}

/// The configuration for a command on an existing server's files (`audit public-key`,
/// `audit adopt-key`, `admin create-user`): the data directory given may be the one of
/// `wicketd dev`, whose server keeps its files in `server/` inside it. That one is taken when
/// the directory itself holds no server's files and `server/` does.
fn existing(mut c: ServerConfig) -> ServerConfig {
    let served = |dir: &std::path::Path| {
        dir.join(wicket_server::audit::KEY_FILE).exists() || dir.join("wicket.db").exists()
    };
    let inner = c.data_dir.join(crate::dev::SERVER_DIR);
    if !served(&c.data_dir) && served(&inner) {
        c.data_dir = inner;
    }
    c
}

async fn adopt_key(c: &ServerConfig) -> Result<()> {
    let key = wicket_server::audit::load_or_create_key(&c.audit_key_path())?;
    let ours = hex::encode(key.public_key());
    let store = Store::open(&c.effective_database_url()).await?;
    let event = wicket_server::audit::event(
        "wicketd",
        None,
        wicket_audit::ADOPT_ACTION,
        "audit-key",
        wicket_audit::Outcome::Success,
        serde_json::Value::Null,
    );
    match store.adopt_audit_key(&ours, event).await? {
        None => println!("the audit key is already {ours}"),
        Some(e) => {
            let d: wicket_audit::KeyAdoption = serde_json::from_str(&e.event.details)?;
            println!(
                "the audit key is now {ours} (event {} records the change from {})",
                e.event.seq,
                if d.previous.is_empty() {
                    "no key"
                } else {
                    &d.previous
                }
            );
            println!("pin the new key: wicket audit verify --public-key {ours}");
        }
    }
    Ok(())
}

async fn serve(config: ServerConfig) -> Result<()> {
    let server = Server::bind(config).await?;
    let addr = server.local_addr()?;
    // These two lines are the contract scripts and tests read.
    println!("wicketd listening on https://{addr}");
    println!("CA fingerprint (sha256): {}", server.ca_fingerprint());
    server.run(shutdown_signal()).await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers the process is still stopped by the default action.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

async fn create_user(
    config: &ServerConfig,
    name: &str,
    admin: bool,
    password_stdin: bool,
) -> Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let store = Store::open(&config.effective_database_url()).await?;
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        (line.trim_end_matches(['\r', '\n']).to_string(), false)
    } else {
        (secrets::new_password(), true)
    };
    if password.len() < 8 {
        anyhow::bail!("the password must be at least 8 characters");
    }
    let hash = secrets::hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let user = store
        .create_user(name, &hash, admin, wicket_server::now_ms())
        .await?;
    // Straight to the chain: this path bypasses the server, not the audit log.
    store
        .append_audit(vec![wicket_server::audit::event(
            "wicketd-admin",
            None,
            "admin.manage_users",
            &format!("user:{}", user.name),
            wicket_audit::Outcome::Success,
            serde_json::json!({ "change": "create", "admin": admin, "via": "wicketd admin create-user" }),
        )])
        .await?;
    println!(
        "Created user {}{}.",
        user.name,
        if admin { " (administrator)" } else { "" }
    );
    if generated {
        println!("Password (shown once): {password}");
    }
    Ok(())
}

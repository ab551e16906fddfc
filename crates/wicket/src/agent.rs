//! `wicket-agent` arguments and commands.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use wicket_agent::register::{register, RegisterOptions};
use wicket_agent::Identity;
use wicket_dial::ServerUrl;

#[derive(Parser, Debug)]
#[command(
    name = "wicket-agent",
    version,
    about = "The wicket agent: dials out to wicketd and serves sessions. Never listens."
)]
pub struct Args {
    /// Where the identity is kept (mode 0700 directory, 0600 file).
    #[arg(
        long,
        global = true,
        env = "WICKET_AGENT_STATE_DIR",
        default_value = "/var/lib/wicket-agent"
    )]
    pub state_dir: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Enrol this host with an activation.
    Register {
        #[arg(long)]
        server: String,
        #[arg(long)]
        activation_id: String,
        #[arg(long, env = "WICKET_ACTIVATION_CODE", hide_env_values = true)]
        activation_code: String,
        /// Pin the server's CA (printed by wicketd and by `wicket admin activations create`).
        #[arg(long)]
        ca_fingerprint: Option<String>,
        /// A tag for this target (repeatable): --tag env=prod
        #[arg(long = "tag", value_parser = wicket_cli::args::parse_tag)]
        tags: Vec<(String, String)>,
        /// Target name; defaults to the host name.
        #[arg(long)]
        name: Option<String>,
        /// Replace an existing identity.
        #[arg(long)]
        force: bool,
    },
    /// Keep the link to wicketd up and serve sessions.
    Run,
}

pub async fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Register {
            server,
            activation_id,
            activation_code,
            ca_fingerprint,
            tags,
            name,
            force,
        } => {
            let opts = RegisterOptions {
                server: ServerUrl::parse(&server)?,
                activation_id,
                activation_code,
                ca_fingerprint: ca_fingerprint
                    .as_deref()
                    .map(str::parse)
                    .transpose()
                    .context("--ca-fingerprint")?,
                tags: tags.into_iter().collect(),
                name,
                force,
            };
            let id = register(opts, &args.state_dir).await?;
            println!(
                "Enrolled as {} (target id {}). Identity saved in {}.",
                id.name,
                id.target_id,
                Identity::path(&args.state_dir).display()
            );
            Ok(())
        }
        Command::Run => {
            crate::logging::init("info");
            let identity = Identity::load(&args.state_dir)?;
            tracing::info!(target = %identity.target_id, name = %identity.name, server = %identity.server, "starting");
            wicket_agent::link::run(identity, crate::wicketd::shutdown_signal()).await?;
            tracing::info!("stopped");
            Ok(())
        }
    }
}

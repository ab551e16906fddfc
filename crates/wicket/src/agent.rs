//! `wicket-agent` arguments and commands.
//!
//! The doc comments on arguments are `wicket-agent --help`, read in a terminal: a URL in them
//! is written as people type it, not as a rustdoc link.
#![allow(rustdoc::bare_urls)]

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
        /// wicketd's URL, e.g. https://wicket.example.com:8443
        #[arg(long)]
        server: String,
        /// The activation's id (`act_...`, from `wicket admin activations create`).
        #[arg(long)]
        activation_id: String,
        /// The activation's secret code (shown once when it was created).
        #[arg(long, env = "WICKET_ACTIVATION_CODE", hide_env_values = true)]
        activation_code: String,
        /// Pin the server's CA (printed by wicketd and by `wicket admin activations create`).
        #[arg(long)]
        ca_fingerprint: Option<String>,
        /// A tag for this target (repeatable): --tag env=prod
        #[arg(long = "tag", value_parser = wicket_api::targets::parse_tag)]
        tags: Vec<(String, String)>,
        /// Target name; defaults to the host name.
        #[arg(long)]
        name: Option<String>,
        /// Replace an existing identity.
        #[arg(long)]
        force: bool,
    },
    /// Keep the link to wicketd up and serve sessions.
    Run {
        /// Allow forwards to this network although it is refused by default (link-local and
        /// cloud metadata addresses: 169.254.0.0/16, fe80::/10, fd00:ec2::254). Repeatable.
        #[arg(
            long = "forward-allow",
            value_name = "CIDR",
            env = "WICKET_AGENT_FORWARD_ALLOW",
            value_delimiter = ','
        )]
        forward_allow: Vec<wicket_agent::forward::Cidr>,
        /// Refuse every TCP forward (`wicket forward`, `wicket proxy`) to and from this host.
        #[arg(long, env = "WICKET_AGENT_NO_FORWARDING")]
        no_forwarding: bool,
    },
    /// Internal: the file side of `wicket cp`, started by the agent as the run-as user with the
    /// channel on stdin and stdout.
    #[command(hide = true, name = "copy-helper")]
    CopyHelper {
        #[command(subcommand)]
        mode: HelperMode,
    },
}

/// The command line of [`wicket_agent::copy_helper::Mode`], which also writes it.
#[derive(Subcommand, Debug)]
pub enum HelperMode {
    /// Read PATH and write the copy records to stdout.
    Send {
        /// Send a directory and what is in it.
        #[arg(short, long)]
        recursive: bool,
        /// What to send.
        path: PathBuf,
    },
    /// Read copy records from stdin and write them at PATH; the verdict goes to stdout.
    Receive {
        /// Where to write.
        path: PathBuf,
    },
}

impl From<HelperMode> for wicket_agent::copy_helper::Mode {
    fn from(m: HelperMode) -> Self {
        use wicket_agent::copy_helper::Mode;
        match m {
            HelperMode::Send { recursive, path } => Mode::Send { recursive, path },
            HelperMode::Receive { path } => Mode::Receive { path },
        }
    }
}

pub async fn run(args: Args) -> Result<()> {
    match args.command {
        Command::CopyHelper { mode } => {
            // The reason already went out in the copy stream (and on stderr): exit quietly.
            if wicket_agent::copy_helper::run(mode.into()).is_err() {
                std::process::exit(1);
            }
            Ok(())
        }
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
        Command::Run {
            forward_allow,
            no_forwarding,
        } => {
            crate::logging::init("info");
            let identity = Identity::load(&args.state_dir)?;
            tracing::info!(target = %identity.target_id, name = %identity.name, server = %identity.server, "starting");
            let forward = wicket_agent::forward::ForwardOptions {
                disabled: no_forwarding,
                allow: forward_allow,
            };
            wicket_agent::link::run(identity, forward, crate::wicketd::shutdown_signal()).await?;
            tracing::info!("stopped");
            Ok(())
        }
    }
}

//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "wicket",
    version,
    about = "Reach your servers through wicketd: no bastion, no inbound ports, no SSH keys."
)]
pub struct Cli {
    /// Profile to use (a server and a login); defaults to the current one.
    #[arg(long, global = true, env = "WICKET_PROFILE")]
    pub profile: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Sign in to a wicketd server and remember it.
    Login(LoginArgs),
    /// Revoke this profile's token and forget it.
    Logout,
    /// List targets.
    Targets(OutputArgs),
    /// Open a shell on a target, or run a command there.
    Connect(ConnectArgs),
    /// Administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Server URL, e.g. https://wicket.example.com:8443
    #[arg(long)]
    pub server: String,
    /// User name; asked for when omitted.
    #[arg(long)]
    pub user: Option<String>,
    /// SHA-256 fingerprint of the server's CA (printed by wicketd); without it the OS trust
    /// store is used.
    #[arg(long)]
    pub ca_fingerprint: Option<String>,
    /// Read the password from the first line of stdin (for scripts).
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Args, Debug)]
pub struct OutputArgs {
    #[arg(long, short, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// Target name or id.
    pub target: String,
    /// OS user to run as on the target.
    #[arg(long, short)]
    pub user: Option<String>,
    /// Force a terminal even when running a command.
    #[arg(short = 't', conflicts_with = "no_tty")]
    pub tty: bool,
    /// Never allocate a terminal.
    #[arg(short = 'T')]
    pub no_tty: bool,
    /// Command to run instead of a login shell (after `--`).
    #[arg(last = true)]
    pub command: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Activation codes for enrolling hosts.
    Activations {
        #[command(subcommand)]
        command: ActivationCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum ActivationCommand {
    /// Create an activation; prints its id and secret code once.
    Create(CreateActivationArgs),
    /// List activations.
    List(OutputArgs),
}

#[derive(Args, Debug)]
pub struct CreateActivationArgs {
    /// Default tag for hosts enrolled with it (repeatable), e.g. --tag env=prod
    #[arg(long = "tag", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// How long the code stays valid, e.g. 24h, 30m.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub expires: std::time::Duration,
    /// How many hosts may enrol with it.
    #[arg(long, default_value_t = 1)]
    pub max_registrations: i64,
    #[arg(long, short, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Parses `key=value`.
pub fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

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
    /// Multi-factor login (TOTP) for your own account.
    Mfa {
        #[command(subcommand)]
        command: MfaCommand,
    },
    /// Print a completion script: `wicket completions bash > /etc/bash_completion.d/wicket`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
    #[arg(long, conflicts_with = "sso")]
    pub user: Option<String>,
    /// Sign in with the server's single sign-on (OpenID Connect) in a browser instead of a
    /// password. The sign-in URL is always printed to stderr.
    #[arg(long, conflicts_with_all = ["password_stdin", "totp", "recovery_code"])]
    pub sso: bool,
    /// With --sso: do not try to open a browser; open the printed URL yourself.
    #[arg(long, requires = "sso")]
    pub no_browser: bool,
    /// SHA-256 fingerprint of the server's CA (printed by wicketd); without it the OS trust
    /// store is used.
    #[arg(long)]
    pub ca_fingerprint: Option<String>,
    /// Read the password from the first line of stdin (for scripts); a one-time code, when
    /// the server asks for one, is then read from the next line unless --totp is given.
    #[arg(long)]
    pub password_stdin: bool,
    /// The current code from your authenticator app, for users with multi-factor login.
    #[arg(long, value_name = "CODE", conflicts_with = "recovery_code")]
    pub totp: Option<String>,
    /// One of your one-time recovery codes, instead of --totp.
    #[arg(long, value_name = "CODE")]
    pub recovery_code: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum MfaCommand {
    /// Enrol an authenticator app: shows a QR code and the secret, asks for a code, then
    /// prints one-time recovery codes (shown once).
    Enroll,
    /// Whether multi-factor login is enrolled, and recovery codes left.
    Status(OutputArgs),
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
    /// User accounts.
    Users {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Groups of users, which policies grant access to.
    Groups {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// The Cedar policy set (see docs/POLICY.md).
    Policies {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Login tokens.
    Tokens {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Enrolled agents.
    Agents {
        #[command(subcommand)]
        command: AgentCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; prints a generated password once unless --password-stdin.
    Create {
        name: String,
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    List(OutputArgs),
    /// Disable a user: their tokens stop working and their live sessions end at once.
    Disable {
        name: String,
    },
    Enable {
        name: String,
    },
    /// Remove a user's multi-factor login (e.g. a lost phone); they may enrol again.
    ResetMfa {
        name: String,
    },
    /// Delete a user, their tokens and memberships; their live sessions end at once.
    Delete {
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    Create {
        name: String,
    },
    AddMember {
        group: String,
        user: String,
    },
    /// Remove a member; sessions that membership allowed end at once.
    RemoveMember {
        group: String,
        user: String,
    },
    List(OutputArgs),
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Print the active policy set.
    Get,
    /// Validate FILE and make it the active set; a set that fails validation is never activated.
    Set { file: std::path::PathBuf },
    /// Validate FILE against the schema, with line and column for each problem.
    Validate { file: std::path::PathBuf },
    /// What the active set decides for a request, and which policies decide it.
    Explain {
        #[arg(long)]
        user: String,
        /// connect, exec, forward, copy, watch, replay, terminate, or an admin action.
        #[arg(long)]
        action: String,
        /// Target name or id (omit for admin actions).
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        run_as: Option<String>,
        /// Evaluate as if the user had logged in with a second factor.
        #[arg(long)]
        mfa: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    List(OutputArgs),
    /// Revoke a token; sessions opened with it end at once.
    Revoke {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Revoke an agent (by target name or id): its link is cut now and refused from then on.
    Revoke { target: String },
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

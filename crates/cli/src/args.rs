//! Command-line arguments.
//!
//! The doc comments here are `wicket --help`, read in a terminal: a URL in them is written as
//! people type it, not as a rustdoc link.
#![allow(rustdoc::bare_urls)]

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::ArgValueCompleter;

use crate::complete::target_names;

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
    /// Sign in to a wicketd server and remember it; again with just `wicket login`. A new
    /// profile (`--profile NAME`) becomes current only when there is none.
    Login(LoginArgs),
    /// Revoke this profile's token and forget it.
    Logout,
    /// Who you are, on which server, until when, and whether the server answers; exits 1
    /// when the profile cannot be used as it is.
    Status(OutputArgs),
    /// Your profiles (`*` marks the current one), or `wicket profiles use NAME` to switch.
    Profiles(ProfilesArgs),
    /// List targets, optionally only those matching a name and tags.
    Targets(TargetsArgs),
    /// Open a shell on a target, or run a command there: `wicket connect TARGET [COMMAND...]`.
    Connect(ConnectArgs),
    /// Run a command on a target without a terminal, binary-clean, as `ssh HOST COMMAND`
    /// does; usable as the remote shell of rsync and git (see `wicket exec --help`).
    #[command(long_about = EXEC_ABOUT)]
    Exec(ExecArgs),
    /// Run the system ssh to a target through `wicket proxy`: `wicket ssh [SSH OPTIONS]
    /// [USER@]TARGET [COMMAND]` (the target runs sshd; every argument goes to ssh).
    Ssh(SshArgs),
    /// Sessions: who connected where, live and past; `wicket sessions terminate ID` ends one.
    Sessions(SessionsArgs),
    /// Replay a recorded session in this terminal (or `--raw` for asciinema tools).
    Replay(ReplayArgs),
    /// Follow a live session's output, read-only. Ctrl-C stops watching.
    Watch {
        /// Session id (from `wicket sessions --active`).
        id: String,
    },
    /// Forward local ports to hosts the target can reach, like `ssh -L`.
    Forward(ForwardArgs),
    /// Copy files to or from a target: exactly one of SRC and DST is TARGET:PATH.
    Cp(CpArgs),
    /// Bridge stdin and stdout to HOST:PORT on the target: `ProxyCommand wicket proxy %h %p`.
    Proxy(ProxyArgs),
    /// Print an ssh_config block for every target you can see, so `ssh TARGET` goes through
    /// wicket.
    SshConfig(SshConfigArgs),
    /// Multi-factor login (TOTP) for your own account.
    Mfa {
        #[command(subcommand)]
        command: MfaCommand,
    },
    /// Print a completion script: `wicket completions bash > /etc/bash_completion.d/wicket`,
    /// or `source <(wicket completions bash)`. The script asks this binary for each
    /// completion, so target names come from the server (of the current profile, or
    /// WICKET_PROFILE).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The hash-chained audit log: search it, verify it, export it.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Search events (a table by default): the newest --limit of those matching, or with
    /// --since the first --limit from then on, as `journalctl -n` and `--since` do; printed
    /// oldest first either way.
    Search(AuditSearchArgs),
    /// Verify the chain and its signed checkpoints here, not on the server; exits non-zero and
    /// names the first bad event on any break. With --export, verify an export offline.
    Verify {
        /// The audit public key to trust (hex, from `wicketd audit public-key`). Without it the
        /// server's key is fetched and used, which proves less.
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
        /// Verify the sealed segments in this directory (from `wicket audit export`) instead of
        /// the server's log; needs --public-key and nothing else.
        #[arg(long, value_name = "DIR", requires = "public_key")]
        export: Option<std::path::PathBuf>,
        /// Also fetch every session recording whose SHA-256 is sealed in the chain and check
        /// it against that hash; a recording changed after its session ended is named.
        #[arg(long, conflicts_with = "export")]
        recordings: bool,
    },
    /// Write the log as sealed JSON-lines segments, after verifying it.
    Export {
        /// Directory to write segment-*.jsonl files into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
        /// Events per segment.
        #[arg(long, default_value_t = 1000)]
        segment_size: u32,
        /// The audit public key to verify against before exporting (see `verify`).
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct AuditSearchArgs {
    /// Events at or after this: a duration ago (`1h`, `2d`) or a time (`2026-01-31T12:00:00Z`).
    /// With it, --limit counts from here forwards.
    #[arg(long)]
    pub since: Option<String>,
    /// Events before this, in the same forms.
    #[arg(long)]
    pub until: Option<String>,
    /// Events by this actor (a user name, or `agent:<target id>`).
    #[arg(long)]
    pub user: Option<String>,
    /// Events about this target (by name).
    #[arg(long)]
    pub target: Option<String>,
    /// An action (`auth.login`) or its prefix (`session`, `admin`, `authz`).
    #[arg(long)]
    pub action: Option<String>,
    /// At most this many events: the newest that match, or with --since the first from then
    /// on. Printed oldest first.
    #[arg(long, short = 'n', default_value_t = 1000)]
    pub limit: u32,
    /// `table`, or `json` (each event's `details` as a JSON object).
    #[arg(long, short, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Server URL, e.g. https://wicket.example.com:8443. Without it, the profile's server,
    /// pinned CA, user and way of signing in are used again.
    #[arg(long)]
    pub server: Option<String>,
    /// User name; the profile's, or asked for, when omitted.
    #[arg(long, conflicts_with = "sso")]
    pub user: Option<String>,
    /// Sign in with the server's single sign-on (OpenID Connect) in a browser instead of a
    /// password. The sign-in URL is always printed to stderr.
    #[arg(long, conflicts_with_all = ["password_stdin", "totp", "recovery_code"])]
    pub sso: bool,
    /// With --sso: do not try to open a browser; open the printed URL yourself.
    #[arg(long, requires = "sso")]
    pub no_browser: bool,
    /// SHA-256 fingerprint of the server's CA (wicketd prints it when it starts, as does
    /// `wicketd dev`); without it the profile's pin, else the OS trust store, is used.
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

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SessionsArgs {
    #[command(subcommand)]
    pub command: Option<SessionsCommand>,
    /// Only sessions still running.
    #[arg(long)]
    pub active: bool,
    /// Only this user's sessions.
    #[arg(long)]
    pub user: Option<String>,
    /// Only sessions on this target.
    #[arg(long)]
    pub target: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// End a live session now; its user is told who ended it.
    Terminate {
        /// Session id.
        id: String,
    },
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Session id.
    pub id: String,
    /// Playback speed: 2 plays twice as fast.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Longest pause, in seconds, however long the user was idle.
    #[arg(long, default_value_t = 2.0)]
    pub idle_limit: f64,
    /// Write the asciicast v2 file to stdout instead of playing it.
    #[arg(long)]
    pub raw: bool,
}

#[derive(Subcommand, Debug)]
pub enum MfaCommand {
    /// Enrol an authenticator app: asks for your password, shows a QR code and the secret,
    /// asks for a code, then prints one-time recovery codes (shown once).
    Enroll {
        /// Read the password from the first line of stdin (the code then from the next).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Whether multi-factor login is enrolled, and recovery codes left.
    Status(OutputArgs),
}

#[derive(Args, Debug)]
pub struct OutputArgs {
    /// `table` for people, `json` for scripts.
    #[arg(long, short, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

#[derive(Args, Debug, Default)]
pub struct ConnectArgs {
    /// Target name or id.
    #[arg(add = ArgValueCompleter::new(target_names))]
    pub target: String,
    /// OS user to run as on the target.
    #[arg(long, short)]
    pub user: Option<String>,
    /// Force a terminal on the target even when running a command, and even when stdin is not
    /// a terminal (a script, a pipe): the remote command then sees a terminal (`tty` prints
    /// its name), and the local one, if any, is in raw mode as for a shell.
    #[arg(short = 't', conflicts_with = "no_tty")]
    pub tty: bool,
    /// Never allocate a terminal.
    #[arg(short = 'T')]
    pub no_tty: bool,
    /// The escape character of a terminal session. Typed at the start of a line: `~.`
    /// disconnects (also when the far end stopped answering), `~?` lists the others. One
    /// character, `^` and a letter for a control character, or `none` to pass every key on.
    #[arg(
        short = 'e',
        value_name = "CHAR",
        env = "WICKET_ESCAPE_CHAR",
        default_value = "~",
        value_parser = crate::escape::EscapeChar::parse
    )]
    pub escape: crate::escape::EscapeChar,
    /// Ask for output uncompressed. By default the agent compresses bulk output (reads of
    /// 512 bytes or more), which the server then relays and records as it came; without it the
    /// target spares that CPU and the control plane compresses the recording itself.
    #[arg(long)]
    pub no_compress: bool,
    /// Command to run instead of a login shell; its words are joined with spaces and run by
    /// the remote shell, as ssh does. Options for wicket go before it; `--` before it is
    /// accepted too.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

/// `wicket exec --help`.
const EXEC_ABOUT: &str = "\
Run a command on a target without a terminal, as `ssh HOST COMMAND` does: stdin and stdout are \
passed through byte for byte, end of input reaches the command, and its exit status is \
wicket's (255 when wicket itself fails). The command's words are joined with spaces and run by \
the remote shell. It is an `exec` session for policies, and it is recorded like one.

Its arguments are those of ssh, so tools that run a remote shell can use it:
  rsync -a -e 'wicket exec' src/ web-1:/srv/dst/
  GIT_SSH_COMMAND='wicket exec' git clone web-1:/srv/repo.git
`-l USER` and USER@TARGET pick the OS user to run as; ssh's -p PORT, -o OPTION, -T, -4 and -6, \
which such tools may pass, are accepted and ignored.";

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// OS user to run as on the target (ssh's -l; USER@TARGET works too).
    #[arg(
        short = 'l',
        long = "user",
        visible_short_alias = 'u',
        value_name = "USER"
    )]
    pub user: Option<String>,
    /// Ask for output uncompressed (see `wicket connect --help`).
    #[arg(long)]
    pub no_compress: bool,
    /// Ignored (ssh's port: wicket reaches the target through wicketd).
    #[arg(short = 'p', value_name = "PORT", hide = true)]
    pub port: Option<String>,
    /// Ignored (ssh options that tools such as git pass).
    #[arg(short = 'o', value_name = "OPTION", hide = true)]
    pub ssh_option: Vec<String>,
    /// Ignored (ssh's "no terminal": never one here).
    #[arg(short = 'T', hide = true)]
    pub no_tty: bool,
    /// Ignored (ssh's address families).
    #[arg(short = '4', hide = true)]
    pub ipv4: bool,
    /// Ignored.
    #[arg(short = '6', hide = true)]
    pub ipv6: bool,
    /// Target name or id, or USER@TARGET.
    #[arg(value_name = "[USER@]TARGET", add = ArgValueCompleter::new(target_names))]
    pub target: String,
    /// The command and its arguments (no `--` needed).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SshArgs {
    /// ssh's own arguments: options, `[USER@]TARGET`, and a command.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "SSH ARGS"
    )]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ProfilesArgs {
    #[command(subcommand)]
    pub command: Option<ProfilesCommand>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Subcommand, Debug)]
pub enum ProfilesCommand {
    /// Make NAME the current profile, used by every command without --profile.
    Use {
        /// The profile's name (see `wicket profiles`).
        name: String,
    },
}

#[derive(Args, Debug)]
pub struct TargetsArgs {
    /// Only targets whose name contains this, or matches it as a glob (`web-*`, `db-?`).
    pub name: Option<String>,
    /// Only targets with this tag (repeatable: all must match), e.g. --tag env=prod
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = wicket_api::targets::parse_tag)]
    pub tags: Vec<(String, String)>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Copy directories recursively (symbolic links inside are skipped with a warning).
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// OS user on the target whose permissions read and write the files (default: the
    /// server's `default_run_as`).
    #[arg(long, value_name = "RUNAS")]
    pub user: Option<String>,
    /// A local path, or TARGET:PATH.
    pub src: String,
    /// A local path, or TARGET:PATH (an existing directory receives SRC under its name).
    pub dst: String,
}

#[derive(Args, Debug)]
pub struct ForwardArgs {
    /// Target name or id.
    #[arg(add = ArgValueCompleter::new(target_names))]
    pub target: String,
    /// `[BIND_ADDR:]LOCAL_PORT:HOST:PORT` (repeatable). HOST is resolved on the target
    /// (`localhost` is the target itself); BIND_ADDR defaults to 127.0.0.1, `*` means every
    /// interface, IPv6 addresses go in brackets: `[::1]:8080:db:5432`.
    #[arg(required = true, value_name = "[BIND_ADDR:]LOCAL_PORT:HOST:PORT", value_parser = crate::commands::forward::parse_spec)]
    pub specs: Vec<crate::commands::forward::ForwardSpec>,
}

#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// Target name or id (ssh's `%h`).
    #[arg(add = ArgValueCompleter::new(target_names))]
    pub target: String,
    /// Port on the target to connect to (ssh's `%p`).
    pub port: u16,
    /// Host to connect to from the target.
    #[arg(long, default_value = "localhost")]
    pub host: String,
}

#[derive(Args, Debug)]
pub struct SshConfigArgs {
    /// Port sshd listens on, on the targets.
    #[arg(long, default_value_t = 22)]
    pub port: u16,
    /// Also set `User` in each block.
    #[arg(long)]
    pub user: Option<String>,
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
        /// The new user's name.
        name: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List(OutputArgs),
    /// Disable a user: their tokens stop working and their live sessions end at once.
    Disable {
        /// The user's name.
        name: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// The user's name.
        name: String,
    },
    /// Remove a user's multi-factor login (e.g. a lost phone); they may enrol again.
    ResetMfa {
        /// The user's name.
        name: String,
    },
    /// Delete a user, their tokens and memberships; their live sessions end at once.
    Delete {
        /// The user's name.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Create a group.
    Create {
        /// The new group's name.
        name: String,
    },
    /// Add a user to a group.
    AddMember {
        /// The group's name.
        group: String,
        /// The user's name.
        user: String,
    },
    /// Remove a member; sessions that membership allowed end at once.
    RemoveMember {
        /// The group's name.
        group: String,
        /// The user's name.
        user: String,
    },
    /// List groups and their members.
    List(OutputArgs),
    /// Delete a group and its memberships; sessions a membership of it allowed end at once.
    Delete {
        /// The group's name.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Print the active policy set.
    Get,
    /// Validate FILE and make it the active set; a set that fails validation is never activated.
    Set {
        /// The Cedar policy file.
        file: std::path::PathBuf,
    },
    /// Validate FILE against the schema, with line and column for each problem.
    Validate {
        /// The Cedar policy file.
        file: std::path::PathBuf,
    },
    /// What the active set decides for a request, and which policies decide it.
    Explain {
        /// The wicket user to decide for.
        #[arg(long)]
        user: String,
        /// connect, exec, forward, copy, watch, replay, terminate, or an admin action.
        #[arg(long)]
        action: String,
        /// Target name or id (omit for admin actions).
        #[arg(long)]
        target: Option<String>,
        /// OS user on the target, for connect, exec and copy. Omitted, the one the request
        /// would get: the server's default_run_as, else the user the target's agent runs as.
        #[arg(long)]
        run_as: Option<String>,
        /// Evaluate as if the user had logged in with a second factor.
        #[arg(long)]
        mfa: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// List live login tokens.
    List(OutputArgs),
    /// Revoke a token; sessions opened with it end at once.
    Revoke {
        /// The token's id (`tok_...`).
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Every enrolled agent, revoked ones too, with its state and tags.
    List(OutputArgs),
    /// Revoke an agent (by target name or id): its link is cut now and refused from then on;
    /// the target stays listed and its name taken.
    Revoke {
        /// Target name or id.
        #[arg(add = ArgValueCompleter::new(target_names))]
        target: String,
    },
    /// Remove a target and its agent's identity: its link is cut, the agent is refused from
    /// then on, and the name may be enrolled again. Past sessions keep its name.
    Remove {
        /// Target name or id.
        #[arg(add = ArgValueCompleter::new(target_names))]
        target: String,
    },
    /// Set a target's tags, replacing all it has: `retag web-1 --tag env=prod --tag team=a`.
    /// Live sessions the new tags no longer allow end at once.
    #[command(group(clap::ArgGroup::new("new_tags").required(true).args(["tags", "clear"])))]
    Retag {
        /// Target name or id.
        #[arg(add = ArgValueCompleter::new(target_names))]
        target: String,
        /// A tag (repeatable).
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = wicket_api::targets::parse_tag)]
        tags: Vec<(String, String)>,
        /// Remove every tag (instead of --tag).
        #[arg(long)]
        clear: bool,
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
    #[arg(long = "tag", value_parser = wicket_api::targets::parse_tag)]
    pub tags: Vec<(String, String)>,
    /// How long the code stays valid, e.g. 24h, 30m.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub expires: std::time::Duration,
    /// How many hosts may enrol with it.
    #[arg(long, default_value_t = 1)]
    pub max_registrations: i64,
    /// `table` for people, `json` for scripts.
    #[arg(long, short, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[cfg(test)]
mod tests;

//! One module per command; [`dispatch`] picks it.

pub mod activations;
pub mod admin;
pub mod audit;
pub mod connect;
pub mod cp;
pub mod exec;
pub mod forward;
pub mod login;
pub mod mfa;
pub mod profiles;
pub mod proxy;
pub mod sessions;
pub mod ssh;
pub mod ssh_config;
pub mod sso;
pub mod status;
pub mod targets;

use anyhow::Result;

use crate::args::{ActivationCommand, AdminCommand, Cli, Command};

/// Exit status for a failure on wicket's side, kept apart from remote statuses as ssh does.
pub const CONNECT_FAILURE: i32 = 255;

pub async fn dispatch(cli: Cli) -> Result<i32> {
    let profile = cli.profile.as_deref();
    match cli.command {
        Command::Login(args) => login::login(profile, args).await,
        Command::Logout => login::logout(profile).await,
        Command::Status(args) => status::status(profile, args).await,
        Command::Profiles(args) => profiles::dispatch(args),
        Command::Targets(args) => targets::list(profile, args).await,
        Command::Connect(args) => connect::connect(profile, args).await,
        Command::Exec(args) => exec::exec(profile, args).await,
        Command::Ssh(args) => ssh::ssh(profile, args),
        Command::Forward(args) => forward::forward(profile, args).await,
        Command::Cp(args) => cp::cp(profile, args).await,
        Command::Proxy(args) => proxy::proxy(profile, args).await,
        Command::SshConfig(args) => ssh_config::print(profile, args).await,
        Command::Completions { shell } => {
            let script = crate::complete::script(shell, &completer())?;
            use std::io::Write;
            let _ = std::io::stdout().write_all(&script);
            Ok(0)
        }
        Command::Sessions(args) => sessions::dispatch(profile, args).await,
        Command::Replay(args) => sessions::replay(profile, args).await,
        Command::Watch { id } => sessions::watch(profile, &id).await,
        Command::Mfa { command } => mfa::dispatch(profile, command).await,
        Command::Audit { command } => audit::dispatch(profile, command).await,
        Command::Admin { command } => match command {
            AdminCommand::Activations { command } => match command {
                ActivationCommand::Create(args) => activations::create(profile, args).await,
                ActivationCommand::List(args) => activations::list(profile, args).await,
            },
            other => admin::dispatch(profile, other).await,
        },
    }
}

/// How a completion script calls this binary: by the name it was run as when that is a bare
/// name (found on PATH then, as after an upgrade), else by its full path.
fn completer() -> String {
    let argv0 = std::env::args().next().unwrap_or_default();
    if !argv0.is_empty() && !argv0.contains('/') {
        return argv0;
    }
    std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_owned))
        .unwrap_or_else(|| "wicket".into())
}

/// Every error from [`dispatch`] exits 1, except that `connect` reserves 255 (see
/// [`connect::ConnectFailed`]) so scripts can tell wicket's failures from the remote command's.
pub fn error_exit_code(e: &anyhow::Error) -> i32 {
    if e.downcast_ref::<connect::ConnectFailed>().is_some() {
        CONNECT_FAILURE
    } else {
        1
    }
}

/// "3m ago", "just now", "never".
pub fn ago(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "never".into();
    };
    let secs = ((crate::profile::now_ms() - ms) / 1000).max(0) as u64;
    if secs < 5 {
        return "just now".into();
    }
    let rounded = match secs {
        s if s < 60 => s,
        s if s < 3600 => s / 60 * 60,
        s if s < 86400 => s / 3600 * 3600,
        s => s / 86400 * 86400,
    };
    format!(
        "{} ago",
        humantime::format_duration(std::time::Duration::from_secs(rounded))
    )
}

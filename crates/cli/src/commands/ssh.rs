//! `wicket ssh [SSH OPTIONS] [USER@]TARGET [COMMAND]`: the system ssh, through `wicket proxy`.
//!
//! For targets that run sshd and users who want ssh itself (its keys, agent forwarding,
//! `-L`, sftp): the same as `ssh -o ProxyCommand='wicket --profile P proxy %h %p' ...`, without
//! writing an ssh_config first (`wicket ssh-config` does that for plain `ssh TARGET`). ssh
//! replaces this process, so the terminal, signals and exit status are ssh's own.

use std::os::unix::process::CommandExt;

use anyhow::{Context, Result};

use crate::args::SshArgs;
use crate::commands::connect::ConnectFailed;
use crate::profile::Config;

pub fn ssh(profile_name: Option<&str>, args: SshArgs) -> Result<i32> {
    // The profile is resolved now, so the proxy uses this one even if the current one
    // changes while ssh runs; and a user who is not logged in hears it before ssh starts.
    let (name, profile) = Config::load()?.selected(profile_name)?;
    profile.live_token()?;
    let exe = std::env::current_exe().context("cannot find the path of this wicket binary")?;
    let exe = exe
        .to_str()
        .context("the path of this wicket binary is not UTF-8")?;
    let proxy = super::ssh_config::proxy_command(exe, &name);
    let err = std::process::Command::new("ssh")
        .arg("-o")
        .arg(format!("ProxyCommand={proxy}"))
        .args(&args.args)
        .exec();
    // 255, as ssh itself exits when it cannot connect.
    Err(ConnectFailed(format!("cannot run ssh: {err}")).into())
}

//! `wicket ssh-config`: an ssh_config block that sends ssh, scp and rsync for every target the
//! user can see through `wicket proxy`, so no SSH port needs to be reachable from anywhere.

use anyhow::{Context, Result};

use crate::args::SshConfigArgs;
use crate::profile::Config;
use wicket_api::TargetView;

pub async fn print(profile_name: Option<&str>, args: SshConfigArgs) -> Result<i32> {
    let (name, profile) = Config::load()?.selected(profile_name)?;
    let targets: Vec<TargetView> = profile.api()?.get("/v1/targets").await?;
    let exe = std::env::current_exe().context("cannot find the path of this wicket binary")?;
    let exe = exe
        .to_str()
        .context("the path of this wicket binary is not UTF-8")?;
    out!(
        "{}",
        render(
            &targets,
            exe,
            &name,
            &profile.server,
            args.port,
            args.user.as_deref()
        )
    );
    Ok(0)
}

/// The text: one `Host` block per target, by name. `%h` is the name ssh was given, which is
/// the target name, and also what ssh files the target's host key under in known_hosts.
pub fn render(
    targets: &[TargetView],
    exe: &str,
    profile: &str,
    server: &str,
    port: u16,
    user: Option<&str>,
) -> String {
    let mut out = format!(
        "# wicket ssh-config: targets of profile {profile:?} on {server}.\n\
         # Add to ~/.ssh/config (or Include a file holding it); regenerate when targets change.\n"
    );
    let proxy = proxy_command(exe, profile);
    for t in targets {
        if t.name.is_empty() || t.name.chars().any(|c| c.is_whitespace() || c == '"') {
            out.push_str(&format!(
                "# skipped target {:?}: its name cannot be an ssh Host\n",
                t.name
            ));
            continue;
        }
        out.push_str(&format!("\nHost {}\n", t.name));
        out.push_str(&format!("    ProxyCommand {proxy}\n"));
        if port != 22 {
            out.push_str(&format!("    Port {port}\n"));
        }
        if let Some(u) = user {
            out.push_str(&format!("    User {u}\n"));
        }
    }
    out
}

/// ssh's `ProxyCommand` that reaches `%h` port `%p` through this wicket binary and profile;
/// `wicket ssh` passes the same with `-o`.
pub fn proxy_command(exe: &str, profile: &str) -> String {
    format!("{} --profile {} proxy %h %p", quote(exe), quote(profile))
}

/// Quotes for ssh_config's ProxyCommand (run by `sh -c`) when needed. A `%` is doubled, since
/// ssh expands `%` tokens in the command before the shell sees it.
fn quote(s: &str) -> String {
    let s = s.replace('%', "%%");
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+@%=,:".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> TargetView {
        TargetView {
            id: format!("tgt_{name}"),
            name: name.into(),
            tags: Default::default(),
            online: true,
            last_seen: None,
            agent_version: None,
            hostname: None,
            os: None,
            may_connect: true,
        }
    }

    #[test]
    fn one_block_per_target() {
        let text = render(
            &[target("web-1"), target("db 1"), target("db-1")],
            "/opt/my tools/wicket",
            "default",
            "https://w:8443",
            2222,
            Some("ops"),
        );
        assert!(text.contains(
            "\nHost web-1\n    ProxyCommand '/opt/my tools/wicket' --profile default proxy %h %p\n    Port 2222\n    User ops\n"
        ), "{text}");
        assert!(text.contains("\nHost db-1\n"), "{text}");
        assert!(text.contains("# skipped target \"db 1\""), "{text}");
    }
}

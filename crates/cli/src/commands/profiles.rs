//! `wicket profiles` and `wicket profiles use NAME`: which servers and logins this machine
//! holds, and which one commands use without `--profile` (kubectl's contexts, aws's profiles).
//! Local only: nothing here asks a server.

use anyhow::{bail, Result};
use serde::Serialize;

use crate::args::{Output, ProfilesArgs, ProfilesCommand};
use crate::profile::{now_ms, Config};

use super::targets::print_table;

/// One profile as `--output json` prints it: never the token itself.
#[derive(Serialize)]
struct ProfileView {
    name: String,
    current: bool,
    server: String,
    user: String,
    ca_fingerprint: Option<String>,
    /// The token's expiry, unix milliseconds; `null` when logged out.
    expires_at: Option<i64>,
    /// A token that has not expired by this machine's clock.
    logged_in: bool,
}

pub fn dispatch(args: ProfilesArgs) -> Result<i32> {
    match args.command {
        None => list(args.output.output),
        Some(ProfilesCommand::Use { name }) => switch(&name),
    }
}

fn list(output: Output) -> Result<i32> {
    let config = Config::load()?;
    let current = config.current_name();
    let now = now_ms();
    let views: Vec<ProfileView> = config
        .profiles
        .iter()
        .map(|(name, p)| {
            let expires_at = p.token.as_ref().and(p.expires_at);
            ProfileView {
                name: name.clone(),
                current: current == Some(name.as_str()),
                server: p.server.clone(),
                user: p.user.clone(),
                ca_fingerprint: p.ca_fingerprint.clone(),
                expires_at,
                logged_in: p.token.is_some() && expires_at.is_none_or(|e| e > now),
            }
        })
        .collect();
    match output {
        Output::Json => crate::stdio::json(&views)?,
        Output::Table => {
            if views.is_empty() {
                errln!("No profiles; run `wicket login --server URL`.");
                return Ok(0);
            }
            let rows: Vec<[String; 5]> = views
                .iter()
                .map(|v| {
                    let token = match v.expires_at {
                        _ if !v.logged_in && v.expires_at.is_some() => "expired".to_string(),
                        None => "logged out".to_string(),
                        Some(e) => format!(
                            "valid for {}",
                            humantime::format_duration(std::time::Duration::from_secs(
                                ((e - now).max(0) / 60_000 * 60) as u64
                            ))
                        ),
                    };
                    [
                        if v.current { "*" } else { "" }.to_string(),
                        v.name.clone(),
                        v.server.clone(),
                        v.user.clone(),
                        token,
                    ]
                })
                .collect();
            print_table(&["CURRENT", "NAME", "SERVER", "USER", "TOKEN"], &rows);
        }
    }
    Ok(0)
}

fn switch(name: &str) -> Result<i32> {
    let mut config = Config::load()?;
    if !config.profiles.contains_key(name) {
        let known: Vec<&str> = config.profiles.keys().map(String::as_str).collect();
        if known.is_empty() {
            bail!("no profile named {name:?}: there are none; run `wicket login --server URL`");
        }
        bail!(
            "no profile named {name:?} (there are: {}); make one with \
             `wicket --profile {name} login --server URL`",
            known.join(", ")
        );
    }
    config.current = Some(name.to_string());
    config.save()?;
    errln!("Current profile: {name}.");
    Ok(0)
}

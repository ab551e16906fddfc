//! Shell completion: the script `wicket completions SHELL` prints, and the answers this binary
//! gives it.
//!
//! The script is clap_complete's dynamic one: on each TAB the shell runs
//! `COMPLETE=<shell> wicket -- <words>`, and [`clap_complete::CompleteEnv`] (called first thing
//! in `main`) answers from the same clap definitions the parser uses, so completions never fall
//! behind the commands. Arguments that name a target complete with the names the server lists
//! ([`target_names`]).

use std::ffi::OsStr;
use std::time::Duration;

use clap_complete::env::EnvCompleter;
use clap_complete::CompletionCandidate;
use wicket_api::TargetView;

use crate::profile::Config;

/// How long a TAB may wait for the server: a completion that hangs is worse than none.
const TIMEOUT: Duration = Duration::from_secs(2);

/// The environment variable that turns a run of `wicket` into a completion request.
pub const VAR: &str = "COMPLETE";

/// When the completion script runs this binary (`COMPLETE=bash wicket -- WORDS...`), prints
/// the completions and exits; otherwise returns at once. Called before anything else in
/// `main`, so nothing else writes to stdout first.
pub fn answer_if_asked() {
    clap_complete::CompleteEnv::with_factory(<crate::Cli as clap::CommandFactory>::command)
        .var(VAR)
        .complete();
}

/// Target names starting with what has been typed, from the current profile's server (or
/// `WICKET_PROFILE`'s), each with whether it is online. Any failure (no profile, an expired
/// token, an unreachable server) completes nothing, silently: a TAB must not print errors.
pub fn target_names(typed: &OsStr) -> Vec<CompletionCandidate> {
    let Some(typed) = typed.to_str() else {
        return Vec::new();
    };
    fetch()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.name.starts_with(typed))
        .map(|t| {
            let state = if t.online { "online" } else { "offline" };
            CompletionCandidate::new(t.name).help(Some(state.into()))
        })
        .collect()
}

fn fetch() -> Option<Vec<TargetView>> {
    let asked = std::env::var("WICKET_PROFILE")
        .ok()
        .filter(|p| !p.is_empty());
    let (_, profile) = Config::load().ok()?.selected(asked.as_deref()).ok()?;
    let api = profile.api().ok()?.with_timeout(TIMEOUT);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        tokio::time::timeout(TIMEOUT, api.get::<Vec<TargetView>>("/v1/targets"))
            .await
            .ok()?
            .ok()
    })
}

/// The registration script for `shell`, which calls `completer` (this binary) on each TAB.
pub fn script(shell: clap_complete::Shell, completer: &str) -> std::io::Result<Vec<u8>> {
    use clap_complete::env::{Bash, Elvish, Fish, Powershell, Zsh};
    use clap_complete::Shell as S;
    let adapter: &dyn EnvCompleter = match shell {
        S::Bash => &Bash,
        S::Elvish => &Elvish,
        S::Fish => &Fish,
        S::PowerShell => &Powershell,
        S::Zsh => &Zsh,
        // `Shell` is non-exhaustive; a new shell has no adapter here yet.
        _ => {
            return Err(std::io::Error::other(format!(
                "no completions for {shell} yet"
            )))
        }
    };
    let mut buf = Vec::new();
    adapter.write_registration(VAR, "wicket", "wicket", completer, &mut buf)?;
    Ok(buf)
}

//! The CLI's own surface, without a server: completions and help.

use std::process::Command;

/// `wicket completions SHELL` prints a script that asks this binary on each TAB; the answers
/// come from the same definitions as the parser, so every command is there.
#[test]
fn completion_scripts_ask_this_binary() {
    let bin = env!("CARGO_BIN_EXE_wicket");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = Command::new(bin)
            .args(["completions", shell])
            .output()
            .expect("run wicket");
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("COMPLETE") && script.contains(bin),
            "{shell}: {script}"
        );
    }
    let answer = |words: &[&str]| {
        let out = Command::new(bin)
            .env("COMPLETE", "bash")
            .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
            .env("XDG_CONFIG_HOME", "/nonexistent")
            .arg("--")
            .args(words)
            .output()
            .expect("run wicket");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let top = answer(&["wicket", ""]);
    for cmd in [
        "connect", "exec", "ssh", "status", "profiles", "targets", "login", "admin",
    ] {
        assert!(top.lines().any(|l| l == cmd), "no {cmd} in {top}");
    }
    assert_eq!(
        answer(&["wicket", "admin", "agents", "re"]),
        "revoke\nremove\nretag"
    );
    // No server to ask: no target names (only connect's options), silently.
    let offered = answer(&["wicket", "connect", ""]);
    assert!(offered.lines().all(|l| l.starts_with('-')), "{offered}");

    // The bash script, sourced into a real bash, completes through the binary.
    if let Some(bash) = wicket_testkit::find_tool("bash") {
        let out = Command::new(bash)
            .arg("-c")
            .arg(format!(
                "source <({bin} completions bash) && COMP_WORDS=(wicket profi) && COMP_CWORD=1 \
                 && COMP_TYPE=9 && _clap_complete_wicket wicket profi wicket \
                 && echo \"${{COMPREPLY[@]}}\""
            ))
            .output()
            .expect("run bash");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "profiles",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn help_names_every_top_level_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_wicket"))
        .arg("--help")
        .output()
        .expect("run wicket");
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "login",
        "logout",
        "status",
        "profiles",
        "targets",
        "connect",
        "exec",
        "ssh",
        "mfa",
        "completions",
        "admin",
    ] {
        assert!(help.contains(cmd), "--help lacks {cmd}:\n{help}");
    }
}

/// Every subcommand and argument of the three binaries a person reads `--help` of says what
/// it is: an empty line in `--help` leaves them to guess (`wicket-agent register --server`).
/// Hidden ones (internal helpers) and clap's own `--help`/`--version` are not theirs to write.
#[test]
fn every_command_and_argument_has_help() {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_hide_set() || id == "help" || id == "version" {
                continue;
            }
            if arg
                .get_help()
                .is_none_or(|h| h.to_string().trim().is_empty())
            {
                missing.push(format!("{path} {}", arg_name(arg)));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.is_hide_set() || sub.get_name() == "help" {
                continue;
            }
            let sub_path = format!("{path} {}", sub.get_name());
            if sub
                .get_about()
                .is_none_or(|h| h.to_string().trim().is_empty())
            {
                missing.push(sub_path.clone());
            }
            walk(sub, &sub_path, missing);
        }
    }
    fn arg_name(arg: &clap::Arg) -> String {
        match (arg.get_long(), arg.get_short()) {
            (Some(l), _) => format!("--{l}"),
            (None, Some(s)) => format!("-{s}"),
            (None, None) => arg.get_id().as_str().to_uppercase(),
        }
    }
    let mut missing = Vec::new();
    walk(&wicket_cli::Cli::command(), "wicket", &mut missing);
    walk(&wicket::wicketd::Args::command(), "wicketd", &mut missing);
    walk(
        &wicket::agent::Args::command(),
        "wicket-agent",
        &mut missing,
    );
    assert!(
        missing.is_empty(),
        "these have no --help text:\n{}",
        missing.join("\n")
    );
}

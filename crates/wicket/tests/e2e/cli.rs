//! The CLI's own surface, without a server: completions and help.

use std::process::Command;

#[test]
fn completion_scripts_cover_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_wicket"))
            .args(["completions", shell])
            .output()
            .expect("run wicket");
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = String::from_utf8_lossy(&out.stdout);
        for cmd in ["connect", "targets", "login", "policies", "activations"] {
            assert!(script.contains(cmd), "{shell} completion lacks {cmd}");
        }
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
        "targets",
        "connect",
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

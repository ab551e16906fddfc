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

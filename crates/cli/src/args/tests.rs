//! The argument shapes other tools rely on: what rsync and git pass to a remote shell, and a
//! command after the target with or without `--`.

use clap::Parser;

use super::*;

fn parse(args: &[&str]) -> Result<Command, clap::Error> {
    Cli::try_parse_from(args).map(|c| c.command)
}

#[test]
fn connect_takes_a_command_with_or_without_dashes() {
    let Ok(Command::Connect(c)) = parse(&["wicket", "connect", "web-1", "-t", "ls", "-la"]) else {
        panic!("connect did not parse");
    };
    assert!(c.tty, "-t before the command is wicket's");
    assert_eq!(c.command, ["ls", "-la"]);
    let Ok(Command::Connect(c)) = parse(&["wicket", "connect", "web-1", "--", "-x", "-t"]) else {
        panic!("connect -- did not parse");
    };
    assert!(!c.tty);
    assert_eq!(c.command, ["-x", "-t"]);
    let Ok(Command::Connect(c)) = parse(&["wicket", "connect", "web-1"]) else {
        panic!("connect did not parse");
    };
    assert!(c.command.is_empty());
}

#[test]
fn exec_reads_what_rsync_and_git_pass() {
    // rsync -e 'wicket exec' src/ deploy@web-1:/dst/
    let Ok(Command::Exec(e)) = parse(&[
        "wicket",
        "exec",
        "-l",
        "deploy",
        "web-1",
        "rsync",
        "--server",
        "-vlogDtpre.iLsfxCIvu",
        ".",
        "/dst/",
    ]) else {
        panic!("rsync's shape did not parse");
    };
    assert_eq!(e.user.as_deref(), Some("deploy"));
    assert_eq!(e.target, "web-1");
    assert_eq!(e.command[..2], ["rsync", "--server"]);
    // GIT_SSH_VARIANT=ssh: git adds -o SendEnv and -p.
    let Ok(Command::Exec(e)) = parse(&[
        "wicket",
        "exec",
        "-o",
        "SendEnv=GIT_PROTOCOL",
        "-p",
        "22",
        "web-1",
        "git-upload-pack '/srv/repo.git'",
    ]) else {
        panic!("git's shape did not parse");
    };
    assert_eq!(e.command, ["git-upload-pack '/srv/repo.git'"]);
    // git's probe for OpenSSH (`-G`) must fail, so git treats us as a plain remote shell.
    assert!(parse(&["wicket", "exec", "-G", "web-1"]).is_err());
    // A command is required.
    assert!(parse(&["wicket", "exec", "web-1"]).is_err());
}

#[test]
fn ssh_passes_every_argument_on() {
    let Ok(Command::Ssh(s)) = parse(&[
        "wicket",
        "ssh",
        "-p",
        "2222",
        "-A",
        "deploy@web-1",
        "uptime",
    ]) else {
        panic!("ssh did not parse");
    };
    assert_eq!(s.args, ["-p", "2222", "-A", "deploy@web-1", "uptime"]);
}

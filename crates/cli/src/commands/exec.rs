//! `wicket exec [-l USER] [USER@]TARGET COMMAND...`: a command session without a terminal,
//! with ssh's argument shape so that tools which run a remote shell can run wicket instead:
//! rsync calls `<rsh> [-l USER] HOST rsync --server ...`, git `<ssh> HOST git-upload-pack
//! 'PATH'`.
//!
//! It is `wicket connect` with no terminal, always: the session, its stdin, output, signals
//! and exit status are [`connect::connect`]'s. Only the arguments differ.

use anyhow::Result;

use crate::args::{ConnectArgs, ExecArgs};
use crate::commands::connect;

pub async fn exec(profile_name: Option<&str>, args: ExecArgs) -> Result<i32> {
    let (user, target) = split_user(&args.target, args.user);
    connect::connect(
        profile_name,
        ConnectArgs {
            target,
            user,
            no_tty: true,
            no_compress: args.no_compress,
            command: args.command,
            ..ConnectArgs::default()
        },
    )
    .await
}

/// `USER@TARGET` as ssh reads it (the last `@` splits: target names never hold one); `-l USER`
/// wins, as it does for ssh when both are given.
fn split_user(target: &str, flag: Option<String>) -> (Option<String>, String) {
    match target.rsplit_once('@') {
        Some((user, host)) if !host.is_empty() => (
            flag.or_else(|| (!user.is_empty()).then(|| user.to_string())),
            host.to_string(),
        ),
        _ => (flag, target.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_at_target_and_dash_l() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(split_user("web-1", None), (None, "web-1".into()));
        assert_eq!(
            split_user("deploy@web-1", None),
            (s("deploy"), "web-1".into())
        );
        assert_eq!(split_user("web-1", s("ops")), (s("ops"), "web-1".into()));
        assert_eq!(
            split_user("deploy@web-1", s("ops")),
            (s("ops"), "web-1".into())
        );
        assert_eq!(split_user("@web-1", None), (None, "web-1".into()));
    }
}

//! Access control through the real CLI and server: an allow/deny matrix over groups, target
//! tags, run-as users and MFA; policy validation and explain; and every kind of revocation
//! ending a live session within a second.

use std::time::{Duration, Instant};

use anyhow::Result;
use wicket_testkit::cli::show;
use wicket_testkit::{bins, Cli, Harness};

const POLICY: &str = r#"// Administrators keep full control.
@id("admins")
permit(principal, action, resource) when { principal.admin };

@id("everyone-lists")
permit(principal, action == Wicket::Action::"list_targets", resource);

// Ops may work on production, but only as the unprivileged account.
@id("ops-prod-as-nobody")
permit(
    principal in Wicket::Group::"ops",
    action in [Wicket::Action::"connect", Wicket::Action::"exec"],
    resource
) when {
    resource.hasTag("env") && resource.getTag("env") == "prod" && context.run_as == "nobody"
};

// The database host needs MFA.
@id("ops-db-needs-mfa")
permit(
    principal in Wicket::Group::"ops",
    action == Wicket::Action::"exec",
    resource
) when {
    resource.hasTag("env") && resource.getTag("env") == "db" && context.mfa
};

@id("never-root")
forbid(principal, action, resource) when { context has run_as && context.run_as == "root" && !principal.admin };
"#;

async fn exec(
    cli: &Cli,
    target: &str,
    run_as: Option<&str>,
    cmd: &str,
) -> Result<std::process::Output> {
    let mut args = vec!["connect", target];
    if let Some(r) = run_as {
        args.extend(["--user", r]);
    }
    args.extend(["--", cmd]);
    cli.run(&args, None).await
}

/// `wicket admin policies explain` for alice's `exec` on `target` as `run_as`.
async fn explain(
    h: &Harness,
    target: &str,
    run_as: &str,
    extra: &[&str],
) -> Result<(bool, String, String)> {
    let mut args = vec![
        "admin", "policies", "explain", "--user", "alice", "--action", "exec", "--target", target,
        "--run-as", run_as,
    ];
    args.extend_from_slice(extra);
    let out = h.admin.run(&args, None).await?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        show(&out),
    ))
}

fn denied(out: &std::process::Output) -> bool {
    out.status.code() == Some(255) && String::from_utf8_lossy(&out.stderr).contains("may not")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_matrix_through_the_cli() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent_tagged("web-1", &["env=prod"]).await?;
    h.add_agent("dev-1").await?;
    h.add_agent_tagged("db-1", &["env=db"]).await?;
    let alice = h.user("alice", "alice-password").await?;
    let bob = h.user("bob", "bob-password-1").await?;

    // Before any policy is set, the defaults let users list targets and nothing else.
    let out = exec(&alice, "web-1", Some("nobody"), "true").await?;
    assert!(denied(&out), "{}", show(&out));
    assert!(alice.ok(&["targets"]).await?.contains("web-1"));

    let dir = tempfile::tempdir()?;
    let file = dir.path().join("policy.cedar");
    std::fs::write(&file, POLICY)?;
    let f = file.to_str().unwrap_or_default();
    h.admin.ok(&["admin", "policies", "validate", f]).await?;
    h.admin.ok(&["admin", "policies", "set", f]).await?;
    h.admin.ok(&["admin", "groups", "create", "ops"]).await?;
    h.admin
        .ok(&["admin", "groups", "add-member", "ops", "alice"])
        .await?;

    // In the group, on a prod target, as the permitted user: allowed, and really that user.
    let out = exec(&alice, "web-1", Some("nobody"), "id -un").await?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "nobody\n",
        "{}",
        show(&out)
    );
    // A forbidden run-as user, and none at all.
    assert!(denied(&exec(&alice, "web-1", Some("root"), "true").await?));
    assert!(denied(&exec(&alice, "web-1", None, "true").await?));
    // Not in the group.
    assert!(denied(&exec(&bob, "web-1", Some("nobody"), "true").await?));
    // A target without the tag.
    assert!(denied(
        &exec(&alice, "dev-1", Some("nobody"), "true").await?
    ));
    // MFA required and absent.
    assert!(denied(&exec(&alice, "db-1", Some("nobody"), "true").await?));
    // An interactive shell is `connect`, also permitted here; non-admins cannot administer.
    let out = bob.run(&["admin", "users", "list"], None).await?;
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("may not"),
        "{}",
        show(&out)
    );

    // Joining the group grants access at once.
    h.admin
        .ok(&["admin", "groups", "add-member", "ops", "bob"])
        .await?;
    let out = exec(&bob, "web-1", Some("nobody"), "echo ok").await?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "{}",
        show(&out)
    );

    // explain names the deciding policies.
    let (ok, text, shown) = explain(&h, "web-1", "nobody", &[]).await?;
    assert!(
        ok && text.contains("ALLOW") && text.contains("ops-prod-as-nobody"),
        "{shown}"
    );
    let (ok, text, shown) = explain(&h, "web-1", "root", &[]).await?;
    assert!(
        !ok && text.contains("DENY") && text.contains("never-root"),
        "{shown}"
    );
    // With a second factor the MFA-guarded policy would permit db-1.
    let (ok, text, shown) = explain(&h, "db-1", "nobody", &["--mfa"]).await?;
    assert!(ok && text.contains("ops-db-needs-mfa"), "{shown}");

    // A bad policy: precise errors, and the active set is untouched.
    let bad = dir.path().join("bad.cedar");
    std::fs::write(&bad, "permit(principal, action, resource);\npermit(principal, action == Wicket::Action::\"conect\", resource);\n")?;
    let b = bad.to_str().unwrap_or_default();
    let out = h
        .admin
        .run(&["admin", "policies", "validate", b], None)
        .await?;
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success() && err.contains(":2:"),
        "{}",
        show(&out)
    );
    let out = h.admin.run(&["admin", "policies", "set", b], None).await?;
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not activated"),
        "{}",
        show(&out)
    );
    let active = h.admin.ok(&["admin", "policies", "get"]).await?;
    assert_eq!(active, POLICY);
    Ok(())
}

/// docs/POLICY.md's developer policies: on dev targets, never as root.
const DEV_POLICY: &str = r#"@id("admins")
permit(principal, action, resource) when { principal.admin };

@id("everyone-lists")
permit(principal, action == Wicket::Action::"list_targets", resource);

@id("devs-on-dev-targets")
permit (
  principal in Wicket::Group::"developers",
  action in [Wicket::Action::"connect", Wicket::Action::"exec", Wicket::Action::"copy"],
  resource
)
when { resource.hasTag("env") && resource.getTag("env") == "dev" };

@id("devs-never-root")
forbid (principal in Wicket::Group::"developers", action, resource is Wicket::Target)
when { context.run_as == "root" };
"#;

/// With no `--user` and no `default_run_as`, a session runs as the agent's own user (root
/// here): the policy must decide on that user, not on "nobody named", and the audit must
/// record it. A developer under "never root" is refused, told a policy forbids it; the same
/// developer naming an unprivileged user gets in as that user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(has_root), ignore = "needs root: the agent runs as root")]
async fn no_user_named_is_decided_as_the_agents_own_user() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent_tagged("vm", &["env=dev"]).await?;
    let dev = h.user("dana", "dana-password-1").await?;
    h.admin.set_policies(DEV_POLICY).await?;
    h.admin
        .ok(&["admin", "groups", "create", "developers"])
        .await?;
    h.admin
        .ok(&["admin", "groups", "add-member", "developers", "dana"])
        .await?;

    let out = exec(&dev, "vm", None, "id -un; head -c 40 /etc/shadow").await?;
    assert!(denied(&out), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("as root") && err.contains("forbidden by policy devs-never-root"),
        "{}",
        show(&out)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("root"));
    let local = tempfile::tempdir()?;
    let dest = local.path().join("shadow");
    let out = dev
        .run(
            &["cp", "vm:/etc/shadow", dest.to_str().unwrap_or_default()],
            None,
        )
        .await?;
    assert!(!out.status.success() && !dest.exists(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("devs-never-root"),
        "{}",
        show(&out)
    );
    // explain resolves the run-as user the same way.
    let out = h
        .admin
        .run(
            &[
                "admin", "policies", "explain", "--user", "dana", "--action", "exec", "--target",
                "vm",
            ],
            None,
        )
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("DENY")
            && text.contains("devs-never-root")
            && text.contains("run-as:   root (none named"),
        "{}",
        show(&out)
    );
    // A forward runs as no user: explain decides it without one, as the broker does, so the
    // forbid on root does not show as denying it; naming one is refused as meaningless.
    let with_forwards = format!(
        "{DEV_POLICY}\n@id(\"devs-forward\")\npermit (principal in Wicket::Group::\"developers\", \
         action == Wicket::Action::\"forward\", resource);\n"
    );
    h.admin.set_policies(&with_forwards).await?;
    let explain_forward = |extra: &'static [&'static str]| {
        let mut args = vec![
            "admin", "policies", "explain", "--user", "dana", "--action", "forward", "--target",
            "vm",
        ];
        args.extend_from_slice(extra);
        let admin = &h.admin;
        async move { admin.run(&args, None).await }
    };
    let out = explain_forward(&[]).await?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("ALLOW") && !text.contains("root"),
        "{}",
        show(&out)
    );
    let out = explain_forward(&["--run-as", "root"]).await?;
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("--run-as applies to"),
        "{}",
        show(&out)
    );
    h.admin.set_policies(DEV_POLICY).await?;

    // Naming an unprivileged user works, as that user.
    let out = exec(&dev, "vm", Some("nobody"), "id -un").await?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "nobody\n",
        "{}",
        show(&out)
    );

    // An admin's session without --user runs as root, and the record says so.
    let out = exec(&h.admin, "vm", None, "id -un").await?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "root\n",
        "{}",
        show(&out)
    );
    let events: Vec<serde_json::Value> = serde_json::from_str(
        &h.admin
            .ok(&[
                "audit",
                "search",
                "--action",
                "session.start",
                "--output",
                "json",
            ])
            .await?,
    )?;
    let run_as: Vec<String> = events
        .iter()
        .filter_map(|e| e["details"]["run_as"].as_str().map(str::to_string))
        .collect();
    assert_eq!(run_as, ["nobody", "root"], "{events:?}");

    // An account whose shell refuses logins gets no login shell, and is told why; a command
    // as that account still runs.
    let account = NoLoginAccount::add()?;
    let out = h
        .admin
        .run(&["connect", "vm", "--user", &account.name], Some(b""))
        .await?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(255)
            && err.contains(&format!(
                "account {} has no login shell (/usr/sbin/nologin)",
                account.name
            )),
        "{}",
        show(&out)
    );
    let out = exec(&h.admin, "vm", Some(&account.name), "id -un").await?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", account.name),
        "{}",
        show(&out)
    );
    Ok(())
}

/// A local account with `/usr/sbin/nologin` as its shell, removed when dropped.
struct NoLoginAccount {
    name: String,
}

/// Runs `cmd` with `args` until it succeeds, a few times: another test's `useradd` may hold
/// the lock on /etc/passwd for a moment.
fn retried(cmd: &str, args: &[&str]) -> Result<()> {
    let mut last = None;
    for _ in 0..20 {
        let out = std::process::Command::new(cmd).args(args).output()?;
        if out.status.success() {
            return Ok(());
        }
        last = Some(out);
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!(
        "{cmd} {args:?}: {}",
        last.as_ref().map(show).unwrap_or_default()
    )
}

impl NoLoginAccount {
    fn add() -> Result<NoLoginAccount> {
        let name = format!("wkt-nologin-{}", std::process::id() % 100_000);
        if nix::unistd::User::from_name(&name)?.is_none() {
            retried(
                "useradd",
                &[
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    &name,
                ],
            )?;
        }
        Ok(NoLoginAccount { name })
    }
}

impl Drop for NoLoginAccount {
    fn drop(&mut self) {
        let _ = retried("userdel", &[&self.name]);
    }
}

/// Starts `sleep` on web-1 as `cli`, and returns the running `wicket` once the session is up.
async fn live_session(cli: &Cli) -> Result<tokio::process::Child> {
    let child = cli
        .command()
        .args([
            "connect",
            "web-1",
            "--user",
            "nobody",
            "--",
            "echo started; sleep 60",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut child = child;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("stdout"))?;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut stdout, &mut buf),
    )
    .await??;
    assert_eq!(&buf[..n], b"started\n");
    Ok(child)
}

/// Revokes with `revoke` and asserts the live session ends within a second, saying why.
async fn ends_within_a_second(
    child: tokio::process::Child,
    what: &str,
    revoke: impl std::future::Future<Output = Result<String>>,
) -> Result<()> {
    let start = Instant::now();
    revoke.await?;
    let out = tokio::time::timeout(Duration::from_secs(5), child.wait_with_output()).await??;
    let took = start.elapsed();
    eprintln!("{what}: session ended {took:?} after the revocation began");
    assert!(took < Duration::from_secs(1), "{what}: took {took:?}");
    assert_eq!(out.status.code(), Some(255), "{what}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("access revoked"),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_revocation_ends_live_sessions_at_once() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent_tagged("web-1", &["env=prod"]).await?;
    h.admin.set_policies(POLICY).await?;
    h.admin.ok(&["admin", "groups", "create", "ops"]).await?;
    let mut users = Vec::new();
    for name in [
        "u-disable",
        "u-delete",
        "u-token",
        "u-group",
        "u-policy",
        "u-retag",
        "u-group-delete",
    ] {
        let cli = h.user(name, "a-long-password").await?;
        h.admin
            .ok(&["admin", "groups", "add-member", "ops", name])
            .await?;
        users.push(cli);
    }
    let admin = h.admin.clone();

    let s = live_session(&users[0]).await?;
    ends_within_a_second(
        s,
        "disable user",
        admin.ok(&["admin", "users", "disable", "u-disable"]),
    )
    .await?;
    let s = live_session(&users[1]).await?;
    ends_within_a_second(
        s,
        "delete user",
        admin.ok(&["admin", "users", "delete", "u-delete"]),
    )
    .await?;

    let s = live_session(&users[2]).await?;
    let tokens: serde_json::Value = serde_json::from_str(
        &admin
            .ok(&["admin", "tokens", "list", "--output", "json"])
            .await?,
    )?;
    let id = tokens
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["user"] == "u-token")
        .and_then(|t| t["id"].as_str())
        .unwrap_or_default()
        .to_string();
    ends_within_a_second(
        s,
        "revoke token",
        admin.ok(&["admin", "tokens", "revoke", &id]),
    )
    .await?;

    let s = live_session(&users[3]).await?;
    ends_within_a_second(
        s,
        "remove from group",
        admin.ok(&["admin", "groups", "remove-member", "ops", "u-group"]),
    )
    .await?;

    // New tags the policy does not grant end the session; the old ones restore access.
    let s = live_session(&users[5]).await?;
    ends_within_a_second(
        s,
        "retag target",
        admin.ok(&["admin", "agents", "retag", "web-1", "--tag", "env=staging"]),
    )
    .await?;
    admin
        .ok(&["admin", "agents", "retag", "web-1", "--tag", "env=prod"])
        .await?;

    let s = live_session(&users[4]).await?;
    let stricter = POLICY.replace("\"nobody\"", "\"somebody-else\"");
    ends_within_a_second(s, "policy change", admin.set_policies(&stricter)).await?;

    // Deleting the group takes every membership of it away.
    admin.set_policies(POLICY).await?;
    let s = live_session(&users[6]).await?;
    ends_within_a_second(
        s,
        "delete group",
        admin.ok(&["admin", "groups", "delete", "ops"]),
    )
    .await?;
    let groups = admin.ok(&["admin", "groups", "list"]).await?;
    assert!(!groups.contains("ops"), "{groups}");

    // Revoking the agent cuts its link now and refuses it afterwards.
    let out = admin
        .run(&["admin", "agents", "revoke", "web-1"], None)
        .await?;
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        h.wait_online("web-1", false, Duration::from_secs(2))
            .await?,
        "revoked agent still online"
    );
    // The agent says why once, with the fix, and then waits hours rather than knocking again
    // every few seconds (its usual backoff would have tried three more times by now).
    let told = wicket_testkit::wait_until(Duration::from_secs(5), || {
        h.agents[0]
            .logs()
            .contains("re-register with `wicket-agent register")
    })
    .await;
    assert!(told, "no clear refusal line:\n{}", h.agents[0].logs());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!h.is_online("web-1").await?, "revoked agent came back");
    let logs = h.agents[0].logs();
    assert!(
        logs.contains("revoked"),
        "the agent was not told it was revoked"
    );
    assert_eq!(
        logs.matches("refused this agent's identity").count(),
        1,
        "the revoked agent kept retrying:\n{logs}"
    );
    Ok(())
}

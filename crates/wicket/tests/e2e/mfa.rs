//! Multi-factor login end to end, through the real server and CLI: enrolment with
//! `wicket mfa enroll` (the test computes codes from the secret it prints), logins that need a
//! code, wrong and reused codes, recovery codes, the `mfa` flag reaching Cedar policies, the
//! admin reset, and login rate limiting.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use wicket_server::totp;
use wicket_testkit::cli::show;
use wicket_testkit::{bins, Cli, Harness};

const POLICY: &str = r#"@id("admins")
permit(principal, action, resource) when { principal.admin };

@id("everyone-lists")
permit(principal, action == Wicket::Action::"list_targets", resource);

@id("ops-exec-needs-mfa")
permit(principal in Wicket::Group::"ops", action == Wicket::Action::"exec", resource)
when { context.mfa };
"#;

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Runs `wicket mfa enroll`, answering with a code computed from the printed secret; returns
/// the secret and the recovery codes.
pub(crate) async fn enroll(cli: &Cli, password: &str) -> Result<(Vec<u8>, Vec<String>)> {
    let mut child = cli
        .command()
        .args(["mfa", "enroll", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    stdin.write_all(format!("{password}\n").as_bytes()).await?;
    let mut stdout = BufReader::new(child.stdout.take().context("stdout")?);
    let mut printed = String::new();
    let secret = loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut line))
            .await
            .context("no secret printed within 30 s")??;
        if n == 0 {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                e.read_to_string(&mut err).await?;
            }
            bail!("enroll ended without a secret: {printed}\nstderr: {err}");
        }
        printed.push_str(&line);
        if let Some(s) = line.trim().strip_prefix("secret: ") {
            break totp::base32_decode(s).context("secret is not base32")?;
        }
    };
    assert!(
        printed.contains('█') || printed.contains('▀'),
        "no QR code: {printed}"
    );
    let code = totp::code_at(&secret, now_secs());
    stdin.write_all(format!("{code}\n").as_bytes()).await?;
    drop(stdin);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await?;
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await??;
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            e.read_to_string(&mut err).await?;
        }
        bail!("enroll failed: {rest}\nstderr: {err}");
    }
    let codes: Vec<String> = rest
        .lines()
        .map(str::trim)
        .filter(|l| l.len() == 19 && l.matches('-').count() == 3)
        .map(str::to_string)
        .collect();
    assert_eq!(codes.len(), 10, "recovery codes: {rest}");
    Ok((secret, codes))
}

/// `wicket login` with `stdin` and extra arguments.
async fn login(
    h: &Harness,
    cli: &Cli,
    user: &str,
    stdin: &str,
    extra: &[&str],
) -> Result<std::process::Output> {
    let mut args = vec![
        "login",
        "--server",
        &h.server.url,
        "--ca-fingerprint",
        &h.server.fingerprint,
        "--user",
        user,
        "--password-stdin",
    ];
    args.extend_from_slice(extra);
    cli.run(&args, Some(stdin.as_bytes())).await
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn token_mfa(cli: &Cli) -> Result<bool> {
    let v: serde_json::Value =
        serde_json::from_str(&cli.ok(&["mfa", "status", "-o", "json"]).await?)?;
    Ok(v["token_mfa"] == true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mfa_enrol_login_policy_recovery_and_reset() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("box-1").await?;
    let alice = h.user("alice", "alice-password-1").await?;
    let bob = h.user("bob", "bob-password-1").await?;
    h.admin.set_policies(POLICY).await?;
    h.admin.ok(&["admin", "groups", "create", "ops"]).await?;
    for u in ["alice", "bob"] {
        h.admin
            .ok(&["admin", "groups", "add-member", "ops", u])
            .await?;
    }

    // Before enrolment: not enrolled, and the password-only token cannot exec.
    let status = alice.ok(&["mfa", "status"]).await?;
    assert!(status.contains("not enrolled"), "{status}");
    assert!(!token_mfa(&alice).await?);
    let out = alice
        .run(&["connect", "box-1", "--", "echo ok"], None)
        .await?;
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));

    // A token alone cannot enrol a factor: the password is asked for, and a wrong one starts
    // nothing.
    let out = alice
        .run(
            &["mfa", "enroll", "--password-stdin"],
            Some(b"not-alices-password\n"),
        )
        .await?;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("wrong password"), "{}", show(&out));
    let status = alice.ok(&["mfa", "status"]).await?;
    assert!(status.contains("not enrolled"), "{status}");

    let (secret, recovery) = enroll(&alice, "alice-password-1").await?;
    let status = alice.ok(&["mfa", "status"]).await?;
    assert!(
        status.contains("enrolled; 10 recovery code(s) left"),
        "{status}"
    );

    // A password alone is no longer enough (with --password-stdin and no code line).
    let out = login(&h, &alice, "alice", "alice-password-1\n", &[]).await?;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("multi-factor login"),
        "{}",
        show(&out)
    );
    // A wrong password is still just a wrong password, whatever the code.
    let out = login(&h, &alice, "alice", "nope\n", &["--totp", "123456"]).await?;
    assert!(
        stderr(&out).contains("invalid user name or password"),
        "{}",
        show(&out)
    );

    // A wrong code: one that matches none of the accepted steps.
    let t = now_secs();
    let valid: Vec<String> = (-2..=2)
        .map(|k| totp::code_at(&secret, t + 30 * k))
        .collect();
    let wrong = (0..1_000_000u32)
        .map(|n| format!("{n:06}"))
        .find(|c| !valid.contains(c))
        .context("a wrong code")?;
    let out = login(
        &h,
        &alice,
        "alice",
        "alice-password-1\n",
        &["--totp", &wrong],
    )
    .await?;
    assert!(
        stderr(&out).contains("invalid one-time code"),
        "{}",
        show(&out)
    );

    // The right code, on the line after the password. The enrolment used up the current
    // step, so use the next one (accepted: one step of skew).
    let code = totp::code_at(&secret, now_secs() + 30);
    let out = login(
        &h,
        &alice,
        "alice",
        &format!("alice-password-1\n{code}\n"),
        &[],
    )
    .await?;
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stderr(&out).contains("with a second factor"),
        "{}",
        show(&out)
    );
    assert!(token_mfa(&alice).await?);

    // The MFA token satisfies the policy; bob, in the same group without MFA, is denied.
    let out = alice
        .run(&["connect", "box-1", "--", "echo ok"], None)
        .await?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "{}",
        show(&out)
    );
    let out = bob
        .run(&["connect", "box-1", "--", "echo ok"], None)
        .await?;
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));
    assert!(stderr(&out).contains("may not"), "{}", show(&out));

    // The same code again: refused.
    let out = login(
        &h,
        &alice,
        "alice",
        "alice-password-1\n",
        &["--totp", &code],
    )
    .await?;
    assert!(stderr(&out).contains("already used"), "{}", show(&out));

    // A recovery code works once (typed loosely), then never again.
    let loose = recovery[3].to_lowercase();
    let out = login(
        &h,
        &alice,
        "alice",
        &format!("alice-password-1\n{loose}\n"),
        &[],
    )
    .await?;
    assert!(out.status.success(), "{}", show(&out));
    assert!(token_mfa(&alice).await?);
    let out = login(
        &h,
        &alice,
        "alice",
        "alice-password-1\n",
        &["--recovery-code", &recovery[3]],
    )
    .await?;
    assert!(
        stderr(&out).contains("already used recovery code"),
        "{}",
        show(&out)
    );
    let status = alice.ok(&["mfa", "status"]).await?;
    assert!(status.contains("9 recovery code(s) left"), "{status}");

    // Enrolling again needs an admin reset first.
    let out = alice
        .run(
            &["mfa", "enroll", "--password-stdin"],
            Some(b"alice-password-1\n"),
        )
        .await?;
    assert!(stderr(&out).contains("already enrolled"), "{}", show(&out));
    // Only admins may reset.
    let out = bob
        .run(&["admin", "users", "reset-mfa", "alice"], None)
        .await?;
    assert!(stderr(&out).contains("may not"), "{}", show(&out));
    let out = h
        .admin
        .ok(&["admin", "users", "reset-mfa", "alice"])
        .await?;
    assert!(out.contains("Reset multi-factor login of alice"), "{out}");
    let out = login(&h, &alice, "alice", "alice-password-1\n", &[]).await?;
    assert!(out.status.success(), "{}", show(&out));
    assert!(!token_mfa(&alice).await?);
    assert!(alice.ok(&["mfa", "status"]).await?.contains("not enrolled"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_rate_limited() -> Result<()> {
    let h = Harness::start_with(
        bins!(),
        &[
            ("WICKET_LOGIN_MAX_FAILURES", "3"),
            ("WICKET_LOGIN_WINDOW", "10s"),
        ],
    )
    .await?;
    h.create_user("carol", "carol-password-1", false).await?;
    let carol = h.cli("carol");
    let (url, fp) = (h.server.url.as_str(), h.server.fingerprint.as_str());

    // Two failures, then a success clears the count.
    for _ in 0..2 {
        let out = carol.login(url, fp, "carol", "wrong").await?;
        assert!(
            stderr(&out).contains("invalid user name or password"),
            "{}",
            show(&out)
        );
    }
    let out = carol.login(url, fp, "carol", "carol-password-1").await?;
    assert!(out.status.success(), "{}", show(&out));

    // Three failures in the window, and even the right password is refused with a 429.
    for _ in 0..3 {
        let out = carol.login(url, fp, "carol", "wrong").await?;
        assert!(
            stderr(&out).contains("invalid user name or password"),
            "{}",
            show(&out)
        );
    }
    let out = carol.login(url, fp, "carol", "carol-password-1").await?;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("too many failed logins for user carol"),
        "{}",
        show(&out)
    );
    assert!(stderr(&out).contains("try again in"), "{}", show(&out));
    let api = wicket_dial::ApiClient::new(
        wicket_dial::ServerUrl::parse(url)?,
        &wicket_tls::Trust::Pinned(fp.parse()?),
        None,
    )?;
    let r = api
        .post::<_, serde_json::Value>(
            "/v1/auth/login",
            &serde_json::json!({ "user": "carol", "password": "carol-password-1" }),
        )
        .await;
    assert!(
        matches!(r, Err(wicket_dial::ApiError::Status { status: 429, .. })),
        "expected 429, got {:?}",
        r.map(|_| ())
    );
    // Other users are not affected.
    let out = h
        .admin
        .login(url, fp, "admin", wicket_testkit::harness::ADMIN_PASSWORD)
        .await?;
    assert!(out.status.success(), "{}", show(&out));

    // Once the window has passed, the right password works again. (The window is generous
    // because each login through a debug build takes about a second of argon2.)
    tokio::time::sleep(Duration::from_secs(10)).await;
    let out = carol.login(url, fp, "carol", "carol-password-1").await?;
    assert!(out.status.success(), "{}", show(&out));
    Ok(())
}

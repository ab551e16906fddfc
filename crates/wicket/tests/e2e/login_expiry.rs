//! A session's login: warned inside the session before its token expires, carried over to a
//! login made in another terminal, and ended with that reason when it expires unrenewed.

use std::time::{Duration, Instant};

use anyhow::Result;
use wicket_testkit::cli::show;
use wicket_testkit::harness::ADMIN_PASSWORD;
use wicket_testkit::{bins, Harness};

use crate::interactive::shell;

/// Tokens live 10 s here: the warning comes a third of that before the end.
const TTL: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_login_warns_the_session_and_a_new_login_extends_it() -> Result<()> {
    let ttl = format!("{}s", TTL.as_secs());
    let mut h = Harness::start_with(bins!(), &[("WICKET_TOKEN_TTL", &ttl)]).await?;
    h.add_agent("web-1").await?;
    h.create_user("bob", "bob-password-1", false).await?;
    // `wicket login` in the admin's config directory, as another terminal of the same person.
    let login_as = |h: &Harness, user: &'static str, password: &'static str| {
        let (admin, url, fp) = (
            h.admin.clone(),
            h.server.url.clone(),
            h.server.fingerprint.clone(),
        );
        async move {
            let out = admin.login(&url, &fp, user, password).await?;
            anyhow::ensure!(out.status.success(), "login: {}", show(&out));
            Ok::<_, anyhow::Error>(Instant::now())
        }
    };
    let login = |h: &Harness| login_as(h, "admin", ADMIN_PASSWORD);

    let first = login(&h).await?;
    let mut term = shell(&h, "connect web-1; echo \"rc=$?\"")?;
    term.write(b"echo ready-$((40+2))\r").await?;
    let at = term.expect("ready-42", Duration::from_secs(15)).await?;

    // The warning, on its own line, before the token expires.
    let at = term
        .expect_from(at, "wicket: your login expires in", TTL)
        .await?;
    assert!(first.elapsed() < TTL, "warned only after the token expired");

    // Logging in again from another terminal (another wicket, the same config directory)
    // carries the session over to the new token.
    let second = login(&h).await?;
    let at = term
        .expect_from(at, "wicket: your login was renewed", Duration::from_secs(5))
        .await?;

    // Alive past the first token's expiry, when its sessions would have ended.
    let past = (first + TTL + Duration::from_secs(1)).saturating_duration_since(Instant::now());
    tokio::time::sleep(past).await;
    assert!(second.elapsed() < TTL, "the test ran too slow to tell");
    term.write(b"echo alive-$((1+1))\r").await?;
    let at = term
        .expect_from(at, "alive-2", Duration::from_secs(5))
        .await?;

    // Warned again; a login as someone else in that config directory does not renew it, and
    // it ends with the reason when the login expires.
    let at = term
        .expect_from(at, "wicket: your login expires in", TTL)
        .await?;
    login_as(&h, "bob", "bob-password-1").await?;
    let at = term
        .expect_from(
            at,
            "wicket: your login was not renewed: the new token is another user's",
            TTL,
        )
        .await?;
    let at = term
        .expect_from(
            at,
            "session ended: your login expired",
            Duration::from_secs(10),
        )
        .await?;
    term.expect_from(at, "rc=255", Duration::from_secs(5))
        .await?;

    // The history says the same.
    login(&h).await?;
    let list = h.admin.ok(&["sessions", "--output", "json"]).await?;
    let v: serde_json::Value = serde_json::from_str(&list)?;
    let reason = v[0]["end_reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("your login expired"), "{list}");
    Ok(())
}

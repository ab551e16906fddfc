//! Single sign-on against a real OpenID Provider (`oidc-provider` on node, started by
//! `wicket_testkit::oidc`): `wicket login --sso` end to end with the browser scripted over
//! HTTP, the server's refusals (state, one-time requests, PKCE, redirect URIs), and the ID
//! token verifier against tampered tokens signed with the provider's real keys.
//!
//! Needs node 20+ and `npm ci` in `crates/testkit/oidc`; otherwise the tests are ignored
//! (`has_oidc`, see `build.rs`), unless `WICKET_REQUIRE_OIDC=1`, in which case they fail.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use wicket_dial::{ApiClient, ServerUrl};
use wicket_server::oidc::{OidcConfig, Sso};
use wicket_store::Store;
use wicket_testkit::cli::show;
use wicket_testkit::oidc::{query_param, Browser, Provider, CLIENT_ID, OTHER_CLIENT_ID};
use wicket_testkit::{bins, Cli, Harness};

const POLICY: &str = r#"
@id("admins")
permit(principal, action, resource) when { principal.admin };

@id("everyone-lists")
permit(principal, action == Wicket::Action::"list_targets", resource);

@id("operators-work")
permit(
    principal in Wicket::Group::"operators",
    action in [Wicket::Action::"connect", Wicket::Action::"exec"],
    resource
);
"#;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn unb64(s: &str) -> Result<Vec<u8>> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s)?)
}

/// A PKCE verifier and its S256 challenge.
fn pkce(seed: &str) -> (String, String) {
    let verifier = format!("{seed}-{}", "v".repeat(50));
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    (verifier, b64(digest.as_ref()))
}

/// wicketd configured for the provider, with one agent and the policy above.
pub(crate) async fn start(provider: &Provider, config_dir: &std::path::Path) -> Result<Harness> {
    let config = config_dir.join("wicketd.toml");
    std::fs::write(
        &config,
        format!(
            "[oidc]\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\n\n[oidc.groups]\n\
             \"idp-ops\" = [\"operators\"]\n",
            provider.issuer
        ),
    )?;
    let config = config.to_str().context("path")?.to_string();
    let mut h = Harness::start_with(bins!(), &[("WICKET_CONFIG", &config)]).await?;
    h.add_agent("web-1").await?;
    h.admin.set_policies(POLICY).await?;
    Ok(h)
}

/// A `wicket login --sso --no-browser` in progress.
struct SsoLogin {
    child: tokio::process::Child,
    auth_url: String,
    stderr: tokio::task::JoinHandle<String>,
}

impl SsoLogin {
    async fn start(h: &Harness, cli: &Cli) -> Result<SsoLogin> {
        let mut child = cli
            .command()
            .args([
                "login",
                "--sso",
                "--no-browser",
                "--server",
                &h.server.url,
                "--ca-fingerprint",
                &h.server.fingerprint,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
        let mut seen = String::new();
        let auth_url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                seen.push_str(&line);
                seen.push('\n');
                let t = line.trim();
                if t.starts_with("http://") || t.starts_with("https://") {
                    return Ok(t.to_string());
                }
            }
            bail!("wicket login --sso printed no URL: {seen}")
        })
        .await
        .context("no URL within 30 s")??;
        let stderr = tokio::spawn(async move {
            let mut rest = seen;
            let mut inner = lines.into_inner();
            let _ = inner.read_to_string(&mut rest).await;
            rest
        });
        Ok(SsoLogin {
            child,
            auth_url,
            stderr,
        })
    }

    fn redirect_uri(&self) -> Result<String> {
        query_param(&self.auth_url, "redirect_uri").context("no redirect_uri in the URL")
    }

    /// Waits for the CLI: (success, stderr).
    async fn finish(mut self) -> Result<(bool, String)> {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .context("wicket login --sso did not finish")??;
        Ok((status.success(), self.stderr.await?))
    }
}

/// The whole SSO login of `login` through the CLI; returns (success, stderr).
async fn sso_login(h: &Harness, cli: &Cli, login: &str) -> Result<(bool, String)> {
    let run = SsoLogin::start(h, cli).await?;
    let browser = Browser::new()?;
    let callback = browser
        .sign_in(&run.auth_url, login, &run.redirect_uri()?)
        .await?;
    let (status, page) = browser.get(&callback).await?;
    ensure!(status == 200, "callback answered {status}: {page}");
    ensure!(page.contains("close this window"), "{page}");
    run.finish().await
}

async fn exec(cli: &Cli, cmd: &str) -> Result<std::process::Output> {
    cli.run(&["connect", "web-1", "--", cmd], None).await
}

fn denied(out: &std::process::Output) -> bool {
    out.status.code() == Some(255) && String::from_utf8_lossy(&out.stderr).contains("may not")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_oidc),
    ignore = "needs node 20+ and the OpenID Provider's packages: npm ci in crates/testkit/oidc"
)]
async fn sso_login_creates_users_maps_groups_and_grants_access() -> Result<()> {
    let provider = Provider::start()?;
    let dir = tempfile::tempdir()?;
    let h = start(&provider, dir.path()).await?;
    let store = Store::open(&h.server.database_url).await?;

    // alice is in idp-ops (mapped to operators) and idp-unmapped (ignored).
    let alice = h.cli("alice");
    let (ok, err) = sso_login(&h, &alice, "alice").await?;
    ensure!(ok, "alice's SSO login failed: {err}");
    ensure!(err.contains("Logged in"), "{err}");
    let user = store.user_by_name("alice").await?.context("alice exists")?;
    ensure!(user.sso.as_ref().map(|s| s.subject.as_str()) == Some("alice"));
    ensure!(user.sso.as_ref().map(|s| s.issuer.as_str()) == Some(provider.issuer.as_str()));
    ensure!(!user.is_admin);
    ensure!(store.groups_of_user(&user.id).await? == vec!["operators"]);
    let out = exec(&alice, "echo hello from sso").await?;
    ensure!(
        String::from_utf8_lossy(&out.stdout) == "hello from sso\n",
        "{}",
        show(&out)
    );
    ensure!(alice.ok(&["targets"]).await?.contains("web-1"));
    // The SSO login is on the audit chain, with the mapped groups.
    let events = h
        .admin
        .ok(&[
            "audit",
            "search",
            "--action",
            "auth.sso_login",
            "--output",
            "json",
        ])
        .await?;
    ensure!(
        events.contains("\"actor\": \"alice\"") || events.contains("\"actor\":\"alice\""),
        "{events}"
    );
    ensure!(events.contains("operators"), "{events}");
    // No password: password login is refused for an SSO user.
    let out = h
        .cli("alice-pw")
        .login(&h.server.url, &h.server.fingerprint, "alice", "")
        .await?;
    ensure!(!out.status.success(), "{}", show(&out));
    ensure!(
        String::from_utf8_lossy(&out.stderr).contains("--sso"),
        "{}",
        show(&out)
    );

    // bob's only group (idp-marketing) maps to nothing: a user without access.
    let bob = h.cli("bob");
    let (ok, err) = sso_login(&h, &bob, "bob").await?;
    ensure!(ok, "bob's SSO login failed: {err}");
    let bob_user = store.user_by_name("bob").await?.context("bob exists")?;
    ensure!(store.groups_of_user(&bob_user.id).await?.is_empty());
    ensure!(denied(&exec(&bob, "true").await?));

    // A second login keeps the same user (bound to the subject).
    let (ok, err) = sso_login(&h, &alice, "alice").await?;
    ensure!(ok, "{err}");
    ensure!(store.user_by_name("alice").await?.map(|u| u.id) == Some(user.id.clone()));

    // Disabled: refused at the next SSO login.
    h.admin.ok(&["admin", "users", "disable", "alice"]).await?;
    let (ok, err) = sso_login(&h, &alice, "alice").await?;
    ensure!(!ok && err.contains("disabled"), "{err}");
    ensure!(denied(&exec(&alice, "true").await?) || !exec(&alice, "true").await?.status.success());

    // Deleted: refused too, not silently recreated, until an administrator lets it back in.
    h.admin.ok(&["admin", "users", "delete", "bob"]).await?;
    let (ok, err) = sso_login(&h, &bob, "bob").await?;
    ensure!(!ok && err.contains("deleted"), "{err}");
    ensure!(store.user_by_name("bob").await?.is_none());
    h.admin.ok(&["admin", "users", "enable", "bob"]).await?;
    let (ok, err) = sso_login(&h, &bob, "bob").await?;
    ensure!(ok, "{err}");

    // A response with another state reaching the CLI's listener ends that login.
    let run = SsoLogin::start(&h, &h.cli("mallory")).await?;
    let forged = format!("{}?code=stolen&state=not-this-login", run.redirect_uri()?);
    let (status, _) = Browser::new()?.get(&forged).await?;
    ensure!(status == 400, "forged callback answered {status}");
    let (ok, err) = run.finish().await?;
    ensure!(!ok && err.contains("state mismatch"), "{err}");

    // Nothing secret in the server log.
    let logs = h.server.logs();
    ensure!(!logs.contains("stolen"), "the code reached the log");
    store.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_oidc),
    ignore = "needs node 20+ and the OpenID Provider's packages: npm ci in crates/testkit/oidc"
)]
async fn sso_api_refuses_wrong_state_reuse_and_bad_requests() -> Result<()> {
    let provider = Provider::start()?;
    let dir = tempfile::tempdir()?;
    let h = start(&provider, dir.path()).await?;
    let trust = wicket_tls::Trust::Pinned(h.server.fingerprint.parse()?);
    let api = ApiClient::new(ServerUrl::parse(&h.server.url)?, &trust, None)?;
    let redirect_uri = "http://127.0.0.1:9/callback";
    let begin = |challenge: String, redirect: &'static str| {
        let api = api.clone();
        async move {
            api.post::<_, serde_json::Value>(
                "/v1/auth/sso/begin",
                &serde_json::json!({ "redirect_uri": redirect, "code_challenge": challenge }),
            )
            .await
        }
    };
    let complete = |id: &str, state: &str, code: &str, verifier: &str| {
        let api = api.clone();
        let body = serde_json::json!({
            "request_id": id, "state": state, "code": code, "code_verifier": verifier,
        });
        async move {
            api.post::<_, serde_json::Value>("/v1/auth/sso/complete", &body)
                .await
        }
    };
    let browser = Browser::new()?;
    // Begin, sign in as dave; returns (request_id, state, code).
    let signed_in = |challenge: String| {
        let browser = &browser;
        let begin = &begin;
        async move {
            let begun = begin(challenge, redirect_uri).await?;
            let url = begun["auth_url"].as_str().context("auth_url")?.to_string();
            let id = begun["request_id"]
                .as_str()
                .context("request_id")?
                .to_string();
            let cb = browser.sign_in(&url, "dave", redirect_uri).await?;
            let state = query_param(&cb, "state").context("state")?;
            let code = query_param(&cb, "code").context("code")?;
            anyhow::Ok((id, state, code))
        }
    };

    // Redirect URIs other than the loopback ones, and malformed challenges, are refused.
    for bad in [
        "https://evil.example/callback",
        "http://localhost:9/callback",
        "http://10.0.0.1:9/callback",
        "http://127.0.0.1/callback",
    ] {
        let e = begin(pkce("a").1, bad).await.err().context(bad)?;
        ensure!(e.to_string().contains("redirect_uri"), "{bad}: {e}");
    }
    ensure!(begin("short".into(), redirect_uri).await.is_err());

    // A wrong state is refused, and uses the request up.
    let (verifier, challenge) = pkce("b");
    let (id, state, code) = signed_in(challenge).await?;
    let e = complete(&id, "wrong-state", &code, &verifier).await.err();
    ensure!(
        e.as_ref().is_some_and(|e| e.to_string().contains("state")),
        "{e:?}"
    );
    let e = complete(&id, &state, &code, &verifier).await.err();
    ensure!(
        e.as_ref()
            .is_some_and(|e| e.to_string().contains("already used")),
        "{e:?}"
    );

    // A wrong PKCE verifier is refused.
    let (_, challenge) = pkce("c");
    let (id, state, code) = signed_in(challenge).await?;
    let e = complete(&id, &state, &code, &pkce("other").0).await.err();
    ensure!(
        e.as_ref().is_some_and(|e| e.to_string().contains("PKCE")),
        "{e:?}"
    );

    // The right answer logs in once; the request cannot be replayed.
    let (verifier, challenge) = pkce("d");
    let (id, state, code) = signed_in(challenge).await?;
    let ok = complete(&id, &state, &code, &verifier).await?;
    ensure!(ok["user"] == "dave" && ok["token"].as_str().is_some_and(|t| !t.is_empty()));
    ensure!(ok["mfa"] == false);
    let e = complete(&id, &state, &code, &verifier).await.err();
    ensure!(
        e.as_ref()
            .is_some_and(|e| e.to_string().contains("already used")),
        "{e:?}"
    );
    // An unknown request id.
    ensure!(complete("sso_nope", &state, &code, &verifier)
        .await
        .is_err());
    // The token works like a password login's.
    let who = ApiClient::new(
        ServerUrl::parse(&h.server.url)?,
        &trust,
        ok["token"].as_str().map(String::from),
    )?
    .get::<serde_json::Value>("/v1/whoami")
    .await?;
    ensure!(who["user"] == "dave", "{who}");
    Ok(())
}

/// A real ID token from the provider for `client_id` with `nonce`.
async fn real_id_token(provider: &Provider, client_id: &str, nonce: &str) -> Result<String> {
    let redirect_uri = "http://127.0.0.1:9/callback";
    let (verifier, challenge) = pkce("tok");
    let mut url = url::Url::parse(&format!("{}/auth", provider.issuer))?;
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile email groups")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", "s")
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let browser = Browser::new()?;
    let cb = browser.sign_in(url.as_str(), "alice", redirect_uri).await?;
    let code = query_param(&cb, "code").with_context(|| format!("no code in {cb}"))?;
    browser
        .redeem(&provider.issuer, client_id, &code, redirect_uri, &verifier)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_oidc),
    ignore = "needs node 20+ and the OpenID Provider's packages: npm ci in crates/testkit/oidc"
)]
async fn tampered_id_tokens_are_refused() -> Result<()> {
    let provider = Provider::start()?;
    let sso = Sso::new(OidcConfig {
        issuer: provider.issuer.clone(),
        client_id: CLIENT_ID.into(),
        ..OidcConfig::default()
    })
    .map_err(anyhow::Error::msg)?;
    let token = real_id_token(&provider, CLIENT_ID, "nonce-1").await?;

    // The genuine token verifies, with its claims.
    let claims = sso.verify_id_token(&token, "nonce-1").await?;
    ensure!(claims.subject == "alice" && claims.username == "alice");
    ensure!(claims.issuer == provider.issuer);
    ensure!(
        claims.groups == vec!["idp-ops", "idp-unmapped"],
        "{claims:?}"
    );

    // Another nonce: refused.
    let e = sso.verify_id_token(&token, "nonce-2").await.err();
    ensure!(e.is_some(), "a wrong nonce was accepted");

    let parts: Vec<&str> = token.split('.').collect();
    ensure!(parts.len() == 3);
    let mut payload: serde_json::Value = serde_json::from_slice(&unb64(parts[1])?)?;

    // A changed claim under the original signature: refused.
    payload["groups"] = serde_json::json!(["idp-ops", "idp-admins"]);
    let changed = b64(&serde_json::to_vec(&payload)?);
    let forged = format!("{}.{}.{}", parts[0], changed, parts[2]);
    let e = sso.verify_id_token(&forged, "nonce-1").await.err();
    ensure!(e.is_some(), "a changed claim was accepted");

    // alg "none", with and without the original signature: refused.
    let none_header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    for sig in ["", parts[2]] {
        let forged = format!("{none_header}.{}.{sig}", parts[1]);
        let e = sso.verify_id_token(&forged, "nonce-1").await.err();
        ensure!(e.is_some(), "alg none was accepted");
    }
    // HS256 "signed" with a guessable key (the client id): refused by the allow-list.
    let hs_header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let input = format!("{hs_header}.{}", parts[1]);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, CLIENT_ID.as_bytes());
    let mac = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    let forged = format!("{input}.{}", b64(mac.as_ref()));
    ensure!(sso.verify_id_token(&forged, "nonce-1").await.is_err());

    // A genuine token of the same provider for another client (audience): refused.
    let other = real_id_token(&provider, OTHER_CLIENT_ID, "nonce-3").await?;
    let e = sso.verify_id_token(&other, "nonce-3").await.err();
    ensure!(e.is_some(), "a token for another audience was accepted");
    let e = e.map(|e| e.to_string()).unwrap_or_default();
    ensure!(e.to_lowercase().contains("aud"), "{e}");

    // Garbage never panics.
    for junk in ["", "a.b.c", "...", "x", &"A".repeat(10_000)] {
        ensure!(sso.verify_id_token(junk, "nonce-1").await.is_err());
    }
    Ok(())
}

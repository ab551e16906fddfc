//! Refusals: enrolment with a wrong, expired or used-up activation; every authenticated route
//! without a token, with a malformed or unknown token, with an expired or revoked one; admin
//! routes for a non-admin.

use std::time::Duration;

use anyhow::Result;
use api::*;
use wicket_server::Access;
use wicket_testkit::cli::show;
use wicket_testkit::{bins, Harness};

/// Thin helpers over the real HTTPS API client, so no test talks HTTP by hand.
mod api {
    use wicket_dial::{ApiClient, ApiError, DialError, ServerUrl};
    use wicket_server::routes::RouteSpec;
    use wicket_tls::Trust;

    /// Calls `route` with `token` and returns the HTTP status it got.
    pub async fn status_of(
        url: &str,
        fingerprint: &str,
        route: &RouteSpec,
        token: Option<&str>,
    ) -> anyhow::Result<u16> {
        let server = ServerUrl::parse(url)?;
        let trust = Trust::Pinned(fingerprint.parse()?);
        // Fill path parameters (`{name}`) with a placeholder: authentication comes first.
        let path: String = route
            .path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let path = path.as_str();
        if route.websocket {
            let r = wicket_dial::dial(
                &server,
                route.path,
                &trust,
                token,
                std::time::Duration::from_secs(10),
            )
            .await;
            return Ok(match r {
                Ok(_) => 101,
                Err(DialError::Http { status, .. }) => status,
                Err(e) => anyhow::bail!("{path}: {e}"),
            });
        }
        let api = ApiClient::new(server, &trust, token.map(str::to_string))?;
        let r = api
            .call::<_, serde_json::Value>(
                route.method.as_str().parse()?,
                route.path,
                Some(&serde_json::json!({})),
            )
            .await;
        Ok(match r {
            Ok(_) => 200,
            Err(ApiError::Unauthorized(_) | ApiError::MfaRequired(_)) => 401,
            Err(ApiError::Status { status, .. }) => status,
            Err(e) => anyhow::bail!("{path}: {e}"),
        })
    }

    /// The token stored in a CLI config home.
    pub fn token_of(config_home: &std::path::Path) -> anyhow::Result<String> {
        let text = std::fs::read_to_string(config_home.join("wicket/config.toml"))?;
        let v: toml::Value = toml::from_str(&text)?;
        let current = v["current"].as_str().unwrap_or("default").to_string();
        Ok(v["profiles"][&current]["token"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activations_refuse_wrong_expired_and_used_up() -> Result<()> {
    let h = Harness::start(bins!()).await?;

    let (id, _code) = h.activation(&[]).await?;
    let out = h.register("a", &id, "wka_not-the-code").await?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("activation code is wrong"),
        "{}",
        show(&out)
    );

    let out = h.register("b", "act_0000000000000000", "whatever").await?;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("activation not found"),
        "{}",
        show(&out)
    );

    let (id, code) = h.activation(&["--expires", "1s"]).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = h.register("c", &id, &code).await?;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("activation has expired"),
        "{}",
        show(&out)
    );

    let (id, code) = h.activation(&[]).await?;
    let out = h.register("d", &id, &code).await?;
    assert!(out.status.success(), "{}", show(&out));
    let out = h.register("e", &id, &code).await?;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("registration limit (1)"),
        "{}",
        show(&out)
    );
    // A refused registration leaves no identity behind.
    assert!(!h.agent_dir("e").join("identity.json").exists());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_authenticated_route_refuses_bad_tokens() -> Result<()> {
    let h = Harness::start(bins!()).await?;
    h.create_user("alice", "alice-password-1", false).await?;
    let alice = h.cli("alice");
    let out = alice
        .login(
            &h.server.url,
            &h.server.fingerprint,
            "alice",
            "alice-password-1",
        )
        .await?;
    assert!(out.status.success(), "{}", show(&out));
    let alice_token = token_of(&alice.config_home)?;
    // A revoked token: log in a second time, then log that session out.
    let bob = h.cli("alice-again");
    bob.login(
        &h.server.url,
        &h.server.fingerprint,
        "alice",
        "alice-password-1",
    )
    .await?;
    let revoked = token_of(&bob.config_home)?;
    bob.ok(&["logout"]).await?;

    let (url, fp) = (h.server.url.as_str(), h.server.fingerprint.as_str());
    let mut checked = 0;
    for (route, _) in wicket_server::routes::table() {
        if matches!(route.access, Access::Public | Access::SelfAuthenticated) {
            continue;
        }
        for (what, token) in [
            ("no token", None),
            ("malformed token", Some("")),
            (
                "unknown token",
                Some("wkt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            ),
            ("revoked token", Some(revoked.as_str())),
        ] {
            let status = status_of(url, fp, &route, token).await?;
            assert_eq!(status, 401, "{} {} with {what}", route.method, route.path);
        }
        if matches!(route.access, Access::Admin(_)) {
            let status = status_of(url, fp, &route, Some(&alice_token)).await?;
            assert_eq!(
                status, 403,
                "{} {} as a non-admin",
                route.method, route.path
            );
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} authenticated routes found");

    // Wrong password: refused, and the message does not say which part was wrong.
    let out = h
        .cli("mallory")
        .login(url, fp, "alice", "not-her-password")
        .await?;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid user name or password"),
        "{}",
        show(&out)
    );
    let out = h.cli("mallory").login(url, fp, "nobody-here", "x").await?;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid user name or password"),
        "{}",
        show(&out)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_get_401_everywhere() -> Result<()> {
    let h = Harness::start_with(bins!(), &[("WICKET_TOKEN_TTL", "2s")]).await?;
    let token = token_of(&h.admin.config_home)?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for (route, _) in wicket_server::routes::table() {
        if matches!(route.access, Access::User | Access::Admin(_)) {
            let status =
                status_of(&h.server.url, &h.server.fingerprint, &route, Some(&token)).await?;
            assert_eq!(
                status, 401,
                "{} {} with an expired token",
                route.method, route.path
            );
        }
    }
    // The CLI says what to do, and that is all it takes: the profile knows the server.
    let out = h.admin.run(&["targets"], None).await?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("token expired; run `wicket login`"),
        "{}",
        show(&out)
    );
    assert!(!err.contains("--server"), "{}", show(&out));
    Ok(())
}

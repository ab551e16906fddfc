//! A real OpenID Provider for the single sign-on tests, and a scripted browser for it.
//!
//! [`Provider::start`] runs `node oidc/provider.mjs` (the `oidc-provider` npm package, pinned by
//! `oidc/package-lock.json`; install it with `npm ci` in `crates/testkit/oidc`). Tests that need
//! it carry `#[cfg_attr(not(has_oidc), ignore = "needs …")]` (the flag comes from the test
//! crate's build script, see `wicket_testprobe`), so it only runs where node and the packages
//! were found. [`Browser`] signs in through the provider's development login and consent forms
//! with plain HTTP, keeping cookies like a browser.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// The client id wicketd is configured with in the provider (a public native client).
pub const CLIENT_ID: &str = "wicket";
/// Another client of the same provider, for tokens with another audience.
pub const OTHER_CLIENT_ID: &str = "other-app";

/// The provider's directory (`package.json`, `provider.mjs`, `node_modules`).
pub fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

/// A running provider; killed on drop.
pub struct Provider {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub issuer: String,
}

impl Provider {
    /// Starts the provider on a free loopback port.
    pub fn start() -> Result<Provider> {
        let dir = provider_dir();
        if !dir.join("node_modules/oidc-provider").is_dir() {
            bail!(
                "the provider's packages are missing: run `npm ci` in {}",
                dir.display()
            );
        }
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("NODE_ENV", "test")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("spawn node provider.mjs")?;
        let stdout = child.stdout.take().context("provider stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if let Some(issuer) = line.strip_prefix("listening ") {
                    let _ = tx.send(issuer.to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(issuer) => Ok(Provider { child, issuer }),
            Err(_) => {
                let _ = child.kill();
                bail!("the OpenID Provider did not start within 30 s")
            }
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scripted browser: follows redirects by hand, submits the provider's login and consent
/// forms, and stops at the first redirect to `stop_at` (the relying party's redirect URI).
pub struct Browser {
    http: reqwest::Client,
}

impl Browser {
    pub fn new() -> Result<Browser> {
        let tls = wicket_tls::client_config(&wicket_tls::Trust::System)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()?;
        Ok(Browser { http })
    }

    /// Opens `auth_url`, signs in as `login` (the provider accepts any password) and consents;
    /// returns the URL the provider redirects to under `stop_at`, without opening it.
    pub async fn sign_in(&self, auth_url: &str, login: &str, stop_at: &str) -> Result<String> {
        let mut url = url::Url::parse(auth_url)?;
        let mut form: Option<Vec<(String, String)>> = None;
        for _ in 0..20 {
            let resp = match form.take() {
                Some(fields) => self.http.post(url.clone()).form(&fields).send().await?,
                None => self.http.get(url.clone()).send().await?,
            };
            let status = resp.status();
            if status.is_redirection() {
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .context("redirect without Location")?
                    .to_str()?;
                let next = url.join(location)?;
                if next.as_str().starts_with(stop_at) {
                    return Ok(next.to_string());
                }
                url = next;
                continue;
            }
            let body = resp.text().await?;
            if !status.is_success() {
                bail!("the provider answered {status} at {url}: {body}");
            }
            let action = attr_after(&body, "<form", "action")
                .with_context(|| format!("no form at {url}: {body}"))?;
            let prompt = attr_after(&body, "name=\"prompt\"", "value").unwrap_or_default();
            let mut fields = vec![("prompt".to_string(), prompt.clone())];
            if prompt == "login" {
                fields.push(("login".into(), login.into()));
                fields.push(("password".into(), "any password".into()));
            }
            url = url.join(&html_unescape(&action))?;
            form = Some(fields);
        }
        bail!("no redirect to {stop_at} after 20 steps")
    }

    /// A plain GET (e.g. delivering the redirect to a CLI's loopback listener): status and body.
    pub async fn get(&self, url: &str) -> Result<(u16, String)> {
        let resp = self.http.get(url).send().await?;
        Ok((resp.status().as_u16(), resp.text().await?))
    }

    /// Redeems a code at the provider's token endpoint as the public client `client_id`;
    /// returns the raw ID token.
    pub async fn redeem(
        &self,
        issuer: &str,
        client_id: &str,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<String> {
        let resp: serde_json::Value = self
            .http
            .post(format!("{issuer}/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("client_id", client_id),
                ("code_verifier", verifier),
            ])
            .send()
            .await?
            .json()
            .await?;
        resp.get("id_token")
            .and_then(|t| t.as_str())
            .map(String::from)
            .with_context(|| format!("no id_token in {resp}"))
    }
}

/// The value of attribute `attr` in the first tag text after `marker`.
fn attr_after(html: &str, marker: &str, attr: &str) -> Option<String> {
    let rest = &html[html.find(marker)?..];
    let key = format!("{attr}=\"");
    let start = rest.find(&key)? + key.len();
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].to_string())
}

fn html_unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/")
        .replace("&quot;", "\"")
}

/// The query parameter `name` of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

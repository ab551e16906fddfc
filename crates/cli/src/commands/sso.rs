//! `wicket login --sso`: single sign-on in a browser, with wicketd as the OpenID Connect
//! relying party. This side never sees the identity provider's tokens:
//!
//! 1. listen on `127.0.0.1:0`, make a PKCE verifier and its S256 challenge, and ask wicketd to
//!    begin (`POST /v1/auth/sso/begin`), which answers with the provider's URL;
//! 2. open the browser (unless `--no-browser`) and print the URL; the provider redirects the
//!    browser to the loopback listener with `code` and `state` (or `error`);
//! 3. check `state`, and send the code with the verifier to `POST /v1/auth/sso/complete`,
//!    which answers with an ordinary wicket token.
//!
//! The code and the verifier are never printed.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wicket_api::{BeginRequest, BeginResponse, CompleteRequest, LoginResponse};
use wicket_dial::ApiClient;

/// How long to wait for the browser (the server forgets the login request after 5 minutes).
const WAIT: Duration = Duration::from_secs(300);
/// The largest request head the loopback listener reads.
const MAX_HEAD: usize = 16 * 1024;

pub(crate) async fn login(api: &ApiClient, no_browser: bool) -> Result<LoginResponse> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on 127.0.0.1 for the sign-in redirect")?;
    let port = listener.local_addr()?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let verifier = pkce_verifier()?;
    let challenge = pkce_challenge(&verifier);
    let begun: BeginResponse = api
        .post(
            "/v1/auth/sso/begin",
            &BeginRequest {
                redirect_uri,
                code_challenge: challenge,
            },
        )
        .await?;
    let url = url::Url::parse(&begun.auth_url).context("the server sent an invalid sign-in URL")?;
    let expected_state = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| anyhow!("the server's sign-in URL has no state"))?;
    errln!(
        "To sign in, open this URL in a browser:\n\n  {}\n",
        begun.auth_url
    );
    if !no_browser {
        open_browser(&begun.auth_url);
    }
    errln!(
        "Waiting for the browser (up to {} minutes)...",
        WAIT.as_secs() / 60
    );
    let code = tokio::time::timeout(WAIT, wait_for_code(&listener, &expected_state))
        .await
        .map_err(|_| {
            anyhow!("no answer from the browser within 5 minutes; run the command again")
        })??;
    let resp: LoginResponse = api
        .post(
            "/v1/auth/sso/complete",
            &CompleteRequest {
                request_id: begun.request_id,
                state: expected_state,
                code,
                code_verifier: verifier,
            },
        )
        .await?;
    Ok(resp)
}

/// 32 random bytes, base64url: 43 characters (RFC 7636).
fn pkce_verifier() -> Result<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow!("no randomness"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn pkce_challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Best effort: a missing or failing opener only means the user opens the printed URL.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if spawned.is_err() {
        errln!("(could not run {opener}; open the URL yourself)");
    }
}

/// Serves the loopback listener until the provider's redirect arrives: returns the code, or
/// fails on an error from the provider or a state that is not this login's.
async fn wait_for_code(listener: &TcpListener, expected_state: &str) -> Result<String> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        let target =
            match tokio::time::timeout(Duration::from_secs(10), read_target(&mut stream)).await {
                Ok(Ok(t)) => t,
                _ => continue,
            };
        let Some(query) = target
            .strip_prefix("/callback")
            .filter(|rest| rest.is_empty() || rest.starts_with('?'))
            .map(|rest| rest.trim_start_matches('?'))
        else {
            respond(&mut stream, "404 Not Found", "Not found.").await;
            continue;
        };
        let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        if params.get("state").map(String::as_str) != Some(expected_state) {
            respond(
                &mut stream,
                "400 Bad Request",
                "This sign-in response does not belong to the login in progress. Nothing was done.",
            )
            .await;
            bail!("the sign-in response does not belong to this login (state mismatch); run the command again");
        }
        if let Some(error) = params.get("error") {
            let why = params
                .get("error_description")
                .map(|d| format!("{error}: {d}"))
                .unwrap_or_else(|| error.clone());
            respond(
                &mut stream,
                "200 OK",
                "Sign-in failed. You can close this window.",
            )
            .await;
            bail!("the identity provider refused the sign-in: {why}");
        }
        let Some(code) = params.get("code").filter(|c| !c.is_empty()) else {
            respond(
                &mut stream,
                "400 Bad Request",
                "The sign-in response has no code.",
            )
            .await;
            bail!("the identity provider's response has no code");
        };
        respond(
            &mut stream,
            "200 OK",
            "Signed in to wicket. You can close this window and return to the terminal.",
        )
        .await;
        return Ok(code.clone());
    }
}

/// The request target of a `GET` request head.
async fn read_target(stream: &mut TcpStream) -> Result<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_HEAD {
            bail!("request too large");
        }
    }
    let line = head
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    let line = std::str::from_utf8(line)?;
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) => Ok(target.to_string()),
        _ => bail!("not a GET request"),
    }
}

async fn respond(stream: &mut TcpStream, status: &str, message: &str) {
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>wicket</title></head>\
         <body><p>{message}</p></body></html>"
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let v = pkce_verifier().unwrap();
        assert_eq!(v.len(), 43);
    }
}

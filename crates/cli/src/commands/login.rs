//! `wicket login` and `wicket logout`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context, Result};
use wicket_api::{LoggedOut, LoginRequest, LoginResponse};
use wicket_dial::{ApiClient, ApiError, ServerUrl};
use wicket_tls::{Fingerprint, Trust};

use crate::args::LoginArgs;
use crate::profile::{Config, Profile};

pub async fn login(profile_name: Option<&str>, args: LoginArgs) -> Result<i32> {
    let server = ServerUrl::parse(&args.server)?;
    let fingerprint: Option<Fingerprint> = args
        .ca_fingerprint
        .as_deref()
        .map(str::parse)
        .transpose()
        .context("--ca-fingerprint")?;
    let trust = fingerprint.map(Trust::Pinned).unwrap_or(Trust::System);
    if args.sso {
        let api = ApiClient::new(server.clone(), &trust, None)?;
        let resp = crate::commands::sso::login(&api, args.no_browser).await?;
        return save(profile_name, &server, fingerprint, resp);
    }
    let user = match args.user {
        Some(u) => u,
        None => prompt("User: ")?,
    };
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        if !std::io::stdin().is_terminal() {
            bail!("no terminal to ask for a password; use --password-stdin");
        }
        rpassword::prompt_password(format!("Password for {user}: "))?
    };
    let api = ApiClient::new(server.clone(), &trust, None)?;
    let request = |totp: Option<&'_ str>, recovery: Option<&'_ str>| {
        let api = api.clone();
        let body = LoginRequest {
            user: user.clone(),
            password: password.clone(),
            totp: totp.map(str::to_owned),
            recovery_code: recovery.map(str::to_owned),
        };
        async move { api.post::<_, LoginResponse>("/v1/auth/login", &body).await }
    };
    let first = request(args.totp.as_deref(), args.recovery_code.as_deref()).await;
    let resp = match first {
        Err(ApiError::MfaRequired(_)) if args.totp.is_none() && args.recovery_code.is_none() => {
            let code = if args.password_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                line.trim().to_string()
            } else if std::io::stdin().is_terminal() {
                prompt_code(&user)?
            } else {
                String::new()
            };
            if code.is_empty() {
                bail!(
                    "{user} has multi-factor login: give the code from the authenticator app \
                     (--totp CODE, or the line after the password with --password-stdin)"
                );
            }
            // Six digits are a TOTP code; anything else is taken for a recovery code.
            if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
                request(Some(&code), None).await?
            } else {
                request(None, Some(&code)).await?
            }
        }
        other => other?,
    };
    save(profile_name, &server, fingerprint, resp)
}

/// Stores the profile and token of a successful login and says so.
fn save(
    profile_name: Option<&str>,
    server: &ServerUrl,
    fingerprint: Option<Fingerprint>,
    resp: LoginResponse,
) -> Result<i32> {
    let mut config = Config::load()?;
    let name = config
        .selected_name(profile_name)
        .unwrap_or_else(|| "default".to_string());
    config.put(
        &name,
        Profile {
            server: server.to_string(),
            user: resp.user.clone(),
            ca_fingerprint: fingerprint.map(|f| f.to_string()),
            token: Some(resp.token),
            expires_at: Some(resp.expires_at),
        },
    );
    config.save()?;
    let valid_for = std::time::Duration::from_secs(
        ((resp.expires_at - crate::profile::now_ms()) / 1000).max(0) as u64,
    );
    errln!(
        "Logged in to {server} as {}{} (profile {name}; token valid for {}).",
        resp.user,
        if resp.mfa {
            " with a second factor"
        } else {
            ""
        },
        humantime::format_duration(valid_for)
    );
    Ok(0)
}

/// Asks the terminal for a one-time code (shown as typed: it is useless once used).
fn prompt_code(user: &str) -> Result<String> {
    err!("One-time code for {user} (or a recovery code): ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

fn prompt(label: &str) -> Result<String> {
    err!("{label}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let v = line.trim().to_string();
    if v.is_empty() {
        bail!("a user name is required");
    }
    Ok(v)
}

/// Revokes the token on the server (best effort: an unreachable server must not keep a user
/// logged in locally) and forgets it.
pub async fn logout(profile_name: Option<&str>) -> Result<i32> {
    let mut config = Config::load()?;
    let (name, mut profile) = config.selected(profile_name)?;
    if let Ok(api) = profile.api() {
        if let Err(e) = api.post::<_, LoggedOut>("/v1/auth/logout", &()).await {
            errln!("wicket: could not revoke the token on the server: {e}");
        }
    }
    profile.token = None;
    profile.expires_at = None;
    config.profiles.insert(name.clone(), profile);
    config.save()?;
    errln!("Logged out (profile {name}).");
    Ok(0)
}

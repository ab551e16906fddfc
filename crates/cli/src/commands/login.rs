//! `wicket login` and `wicket logout`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context, Result};
use wicket_api::{LoggedOut, LoginRequest, LoginResponse};
use wicket_dial::{ApiClient, ApiError, ServerUrl};
use wicket_tls::{Fingerprint, Trust};

use crate::args::LoginArgs;
use crate::profile::{Config, Profile};

/// Signs in. Without `--server`, the selected profile's server, pinned CA and user are used
/// again: after a token expires or is revoked, `wicket login` is all it takes.
pub async fn login(profile_name: Option<&str>, args: LoginArgs) -> Result<i32> {
    let config = Config::load()?;
    let name = config
        .selected_name(profile_name)
        .unwrap_or_else(|| "default".to_string());
    let known = config.profiles.get(&name);
    let server = match (&args.server, known) {
        (Some(s), _) => ServerUrl::parse(s)?,
        (None, Some(p)) => p.server_url()?,
        (None, None) => bail!(
            "no profile named {name:?} to log in to again; give the server: \
             `wicket login --server URL`"
        ),
    };
    // What the profile remembers belongs to its server: another server starts from nothing.
    let same = known.filter(|p| p.server_url().is_ok_and(|u| u == server));
    let fingerprint: Option<Fingerprint> = match &args.ca_fingerprint {
        Some(fp) => Some(fp.parse().context("--ca-fingerprint")?),
        None => same
            .and_then(|p| p.ca_fingerprint.as_deref())
            .map(str::parse)
            .transpose()
            .context("the profile's CA fingerprint")?,
    };
    let password_flags = args.user.is_some()
        || args.password_stdin
        || args.totp.is_some()
        || args.recovery_code.is_some();
    let sso = args.sso || (same.is_some_and(|p| p.sso) && !password_flags);
    let user = args.user.clone().or_else(|| same.map(|p| p.user.clone()));
    let trust = fingerprint.map(Trust::Pinned).unwrap_or(Trust::System);
    let api = ApiClient::new(server.clone(), &trust, None)?;
    let resp = if sso {
        crate::commands::sso::login(&api, args.no_browser).await
    } else {
        password_login(&api, user, &args).await
    };
    let resp = resp.map_err(|e| advise(e, &server))?;
    save(&name, &server, fingerprint, sso, resp)
}

/// A login's failure, with what to do when the server's CA is not trusted: webpki's bare
/// `UnknownIssuer` left people stuck.
fn advise(e: anyhow::Error, server: &ServerUrl) -> anyhow::Error {
    let Some(ApiError::UnknownCa { ca, .. }) = e.downcast_ref::<ApiError>() else {
        return e;
    };
    let presented = ca
        .map(|ca| {
            format!("\nThe server presented CA {ca}: pin it only if it is the one wicketd printed.")
        })
        .unwrap_or_default();
    anyhow::anyhow!(
        "{e}.\nFor a wicketd with its own CA, pin that CA: \
         `wicket login --server {server} --ca-fingerprint FINGERPRINT`. wicketd prints the \
         fingerprint when it starts (\"CA fingerprint (sha256): ...\"), and so does \
         `wicketd dev`.{presented}"
    )
}

/// A password login (and a one-time code when the server asks for one).
async fn password_login(
    api: &ApiClient,
    user: Option<String>,
    args: &LoginArgs,
) -> Result<LoginResponse> {
    let user = match user {
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
    Ok(resp)
}

/// Stores the profile and token of a successful login and says so, and which profile is
/// current when it is another one.
fn save(
    name: &str,
    server: &ServerUrl,
    fingerprint: Option<Fingerprint>,
    sso: bool,
    resp: LoginResponse,
) -> Result<i32> {
    let mut config = Config::load()?;
    config.store(
        name,
        Profile {
            server: server.to_string(),
            user: resp.user.clone(),
            ca_fingerprint: fingerprint.map(|f| f.to_string()),
            token: Some(resp.token),
            expires_at: Some(resp.expires_at),
            sso,
            ..Profile::default()
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
    if let Some(current) = config.current_name().filter(|c| *c != name) {
        errln!(
            "The current profile is still {current}; use this one with `wicket --profile {name} ...` \
             or make it current with `wicket profiles use {name}`."
        );
    }
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

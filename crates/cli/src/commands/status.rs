//! `wicket status`: who you are, on which server, until when, and whether it answers.
//!
//! What the profile holds is shown even when the server cannot be asked, so a user with an
//! expired token or a server down still sees which profile and server they are on. The server
//! is asked through `GET /v1/whoami` (the token's user and second factor) and `GET /v1/mfa`
//! (the enrolment), with a short limit on each.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::Result;
use serde::Serialize;
use wicket_api::{MfaStatus, WhoAmI};
use wicket_dial::ApiError;

use crate::args::{Output, OutputArgs};
use crate::profile::{now_ms, Config};

/// How long to wait for the server: status is what people run when something is wrong.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What `--output json` prints.
#[derive(Serialize)]
struct Status {
    /// The profile's name.
    profile: String,
    /// Whether it is the current profile (used without `--profile`).
    current: bool,
    server: String,
    /// The pinned CA fingerprint; `null` means the OS trust store.
    ca_fingerprint: Option<String>,
    /// The user the profile logged in as.
    user: String,
    /// The token's expiry, unix milliseconds; `null` when logged out.
    expires_at: Option<i64>,
    /// Seconds left; 0 once expired.
    expires_in_secs: Option<u64>,
    /// The server accepted the token.
    logged_in: bool,
    /// The server answered (`false` too when it was not asked: no live token).
    reachable: bool,
    /// The server's answers, when it gave them.
    is_admin: Option<bool>,
    /// This token's login proved a second factor.
    mfa: Option<bool>,
    /// Multi-factor login is enrolled for the account.
    mfa_enrolled: Option<bool>,
    /// Why the profile cannot be used as it is, when it cannot.
    problem: Option<String>,
    /// The server was asked (there was a live token to ask with).
    #[serde(skip)]
    asked: bool,
}

pub async fn status(profile_name: Option<&str>, args: OutputArgs) -> Result<i32> {
    let config = Config::load()?;
    let (name, profile) = config.selected(profile_name)?;
    let mut s = Status {
        current: config.current_name() == Some(name.as_str()),
        profile: name,
        server: profile.server.clone(),
        ca_fingerprint: profile.ca_fingerprint.clone(),
        user: profile.user.clone(),
        expires_at: profile.token.as_ref().and(profile.expires_at),
        expires_in_secs: None,
        logged_in: false,
        reachable: false,
        is_admin: None,
        mfa: None,
        mfa_enrolled: None,
        problem: None,
        asked: false,
    };
    s.expires_in_secs = s.expires_at.map(|e| ((e - now_ms()).max(0) / 1000) as u64);
    match profile.api() {
        Err(e) => s.problem = Some(format!("{e:#}")),
        Ok(api) => {
            s.asked = true;
            let api = api.with_timeout(TIMEOUT);
            match api.get::<WhoAmI>("/v1/whoami").await {
                Ok(who) => {
                    s.reachable = true;
                    s.logged_in = true;
                    s.user = who.user;
                    s.is_admin = Some(who.is_admin);
                    s.mfa = Some(who.mfa);
                    s.mfa_enrolled = api
                        .get::<MfaStatus>("/v1/mfa")
                        .await
                        .ok()
                        .map(|m| m.enrolled);
                }
                Err(e) => {
                    s.reachable = matches!(e, ApiError::Unauthorized(_) | ApiError::Status { .. });
                    s.problem = Some(e.to_string());
                }
            }
        }
    }
    match args.output {
        Output::Json => crate::stdio::json(&s)?,
        Output::Table => print(&s),
    }
    Ok(if s.logged_in { 0 } else { 1 })
}

fn print(s: &Status) {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    outln!(
        "Profile:  {}{}",
        s.profile,
        if s.current { " (current)" } else { "" }
    );
    outln!(
        "Server:   {} ({})",
        s.server,
        match (s.reachable, s.asked) {
            (true, _) if s.ca_fingerprint.is_some() => "reachable; CA pinned",
            (true, _) => "reachable; CA from the system store",
            (false, true) => "not reachable",
            (false, false) => "not asked: no live token",
        }
    );
    outln!(
        "User:     {}{}",
        s.user,
        if s.is_admin == Some(true) {
            " (administrator)"
        } else {
            ""
        }
    );
    match (s.expires_at, s.expires_in_secs) {
        (Some(at), Some(0)) => outln!("Token:    expired at {}", time(at)),
        (Some(at), Some(left)) => outln!(
            "Token:    expires at {} (in {})",
            time(at),
            // Minutes are enough once there are some.
            humantime::format_duration(Duration::from_secs(if left >= 60 {
                left / 60 * 60
            } else {
                left
            }))
        ),
        _ => outln!("Token:    none (logged out)"),
    }
    match (s.mfa, s.mfa_enrolled) {
        (Some(used), enrolled) => outln!(
            "MFA:      this login {} a second factor; enrolled: {}",
            if used { "used" } else { "did not use" },
            enrolled.map(yes_no).unwrap_or("unknown")
        ),
        (None, _) => outln!("MFA:      unknown"),
    }
    if let Some(p) = &s.problem {
        outln!("Problem:  {p}");
    }
}

/// A unix-milliseconds time as RFC 3339 in UTC, to the second.
fn time(ms: i64) -> String {
    // humantime formats up to the year 9999; a server's nonsense is clamped there.
    let latest = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    let t = (UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)).min(latest);
    humantime::format_rfc3339_seconds(t).to_string()
}

//! Password login (with a second factor for users who enrolled one) and logout. Users created
//! by single sign-on have no password and are refused here ([`crate::api::sso`]).
//!
//! A user with TOTP enrolled who sends only a password gets a 401 whose JSON body says
//! `"mfa_required": true`; sending `totp` (the 6-digit code) or `recovery_code` as well issues
//! a token marked `mfa`, which policies see as `context.mfa`. Failed logins are rate limited
//! per user name and source address ([`crate::ratelimit`]).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use wicket_api::{ErrorBody, LoggedOut, LoginRequest, LoginResponse, WhoAmI};
use wicket_store::User;

use crate::audit;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::limits;
use crate::now_ms;
use crate::ratelimit::{login_limiter, Admit, Limited};
use crate::secrets::{decoy_hash, new_token, sha256, verify_password};
use crate::state::AppState;
use wicket_audit::Outcome;

/// The message of the 401 asking for a second factor. Clients without the JSON body (the CLI's
/// API client keeps only `error`) recognise it by this text: keep it stable.
pub const MFA_REQUIRED: &str = "a one-time code is required";

/// The 401 of a wrong user name or password; single sign-on users get it too.
const INVALID_CREDENTIALS: &str =
    "invalid user name or password (accounts from single sign-on use `wicket login --sso`)";

/// A refused login.
pub enum LoginError {
    Api(ApiError),
    /// 401 with `"mfa_required": true`: the password was right, a code is needed or was wrong.
    Mfa(String),
    /// 429 with `Retry-After`.
    Limited(String, Limited),
    /// 401 with [`INVALID_CREDENTIALS`], whatever the reason, which is only recorded: a wrong
    /// password, an unknown user, a disabled one.
    Denied(&'static str),
}

impl From<ApiError> for LoginError {
    fn from(e: ApiError) -> Self {
        LoginError::Api(e)
    }
}

impl From<wicket_store::StoreError> for LoginError {
    fn from(e: wicket_store::StoreError) -> Self {
        LoginError::Api(e.into())
    }
}

impl IntoResponse for LoginError {
    fn into_response(self) -> Response {
        match self {
            LoginError::Api(e) => e.into_response(),
            LoginError::Denied(_) => ApiError::unauthorized(INVALID_CREDENTIALS).into_response(),
            LoginError::Mfa(message) => (
                StatusCode::UNAUTHORIZED,
                Json(ErrorBody {
                    mfa_required: true,
                    ..ErrorBody::new(message)
                }),
            )
                .into_response(),
            LoginError::Limited(user, limited) => (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, limited.retry_after_secs().to_string())],
                Json(ErrorBody {
                    retry_after: Some(limited.retry_after_secs()),
                    ..ErrorBody::new(limited.message(&user))
                }),
            )
                .into_response(),
        }
    }
}

pub async fn login(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(req): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, LoginError> {
    let ip = connect.map(|Extension(ConnectInfo(a))| a.ip());
    // Bounded before anything is recorded: a refusal here is recorded by the API middleware
    // alone, without the name.
    limits::length("user name", &req.user, limits::NAME)?;
    limits::length("password", &req.password, limits::PASSWORD)?;
    limits::length(
        "one-time code",
        req.totp.as_deref().unwrap_or(""),
        limits::CODE,
    )?;
    limits::length(
        "recovery code",
        req.recovery_code.as_deref().unwrap_or(""),
        limits::CODE,
    )?;
    let limiter = login_limiter();
    // The audit record of a refused login: who tried and why, never the password or a code.
    let refused = |outcome: Outcome, reason: &str| {
        audit::event(
            &req.user,
            ip,
            "auth.login",
            &format!("user:{}", req.user),
            outcome,
            serde_json::json!({ "reason": reason }),
        )
    };
    match limiter.admit(&req.user, ip) {
        Ok(Admit::Now) => {}
        Ok(Admit::After(wait)) => {
            tracing::info!(user = %req.user, ip = ?ip, wait_ms = wait.as_millis() as u64, "login slowed down");
            tokio::time::sleep(wait).await;
        }
        Err(limited) => {
            tracing::info!(user = %req.user, ip = ?ip, "login refused: rate limited");
            let _ = state
                .audit()
                .append(refused(Outcome::Denied, "rate limited"))
                .await;
            return Err(LoginError::Limited(req.user, limited));
        }
    }
    let result = check_credentials(&state, &req).await;
    match &result {
        Ok((user, _)) => limiter.record_success(&user.name, ip),
        Err(LoginError::Denied(_)) => limiter.record_failure(&req.user, ip),
        // A wrong or reused code is a failure; a missing one is only the first half of a
        // login.
        Err(LoginError::Mfa(_)) if has_code(&req) => limiter.record_failure(&req.user, ip),
        Err(_) => {}
    }
    let (user, mfa) = match result {
        Ok(v) => v,
        Err(e) => {
            let reason = match &e {
                LoginError::Api(e) => e.message.clone(),
                LoginError::Denied(why) => why.to_string(),
                LoginError::Mfa(m) => m.clone(),
                LoginError::Limited(..) => "rate limited".into(),
            };
            tracing::info!(user = %req.user, reason = %reason, "failed login");
            let _ = state
                .audit()
                .append(refused(Outcome::Failure, &reason))
                .await;
            return Err(e);
        }
    };
    let response = issue_token(&state, &user, mfa, |token_id, expires_at| {
        audit::event(
            &user.name,
            ip,
            "auth.login",
            &format!("user:{}", user.name),
            Outcome::Success,
            serde_json::json!({ "token_id": token_id, "mfa": mfa, "expires_at": expires_at }),
        )
    })
    .await?;
    tracing::info!(user = %user.name, mfa, "login");
    Ok(Json(response))
}

/// Issues a session token for `user` and puts its issue on record, failing closed: when
/// `issued` (the audit event, given the token's id and expiry) cannot be appended, the token
/// is revoked and never handed out. Password and single sign-on logins both end here.
pub(crate) async fn issue_token(
    state: &AppState,
    user: &User,
    mfa: bool,
    issued: impl FnOnce(&str, i64) -> wicket_audit::Event,
) -> Result<LoginResponse, ApiError> {
    let token = new_token();
    let now = now_ms();
    let expires_at = now + state.config().token_ttl.as_millis() as i64;
    let stored = state
        .store()
        .insert_token_mfa(&user.id, &sha256(token.as_bytes()), now, expires_at, mfa)
        .await?;
    if let Err(e) = state.audit().append(issued(&stored.id, expires_at)).await {
        let _ = state.store().revoke_token(&stored.id, now_ms()).await;
        return Err(e.into());
    }
    Ok(LoginResponse {
        token,
        expires_at,
        user: user.name.clone(),
        is_admin: user.is_admin,
        mfa,
    })
}

fn has_code(req: &LoginRequest) -> bool {
    req.totp.as_deref().is_some_and(|c| !c.trim().is_empty())
        || req
            .recovery_code
            .as_deref()
            .is_some_and(|c| !c.trim().is_empty())
}

/// The user and whether a second factor was proved, or why not. Never logs codes.
async fn check_credentials(
    state: &AppState,
    req: &LoginRequest,
) -> Result<(User, bool), LoginError> {
    let user = state.store().user_by_name(&req.user).await?;
    // Single sign-on users have no password: verify against the decoy so that they take as
    // long as unknown users, and refuse them the same way.
    let stored = user
        .as_ref()
        .filter(|u| u.sso.is_none())
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| decoy_hash().to_string());
    let password = req.password.clone();
    // argon2 takes tens of milliseconds of CPU: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .map_err(ApiError::internal)?;
    // A disabled account is refused like a wrong password: telling it apart would confirm
    // the password to whoever typed it. The audit record says which it was.
    let user = match user.filter(|u| u.sso.is_none()) {
        Some(u) if ok && !u.disabled => u,
        Some(u) if ok && u.disabled => return Err(LoginError::Denied("user is disabled")),
        Some(_) => return Err(LoginError::Denied("wrong password")),
        _ => return Err(LoginError::Denied("unknown user, or a single sign-on user")),
    };
    let enrolment = state
        .store()
        .totp_enrolment(&user.id)
        .await?
        .filter(|e| e.is_confirmed());
    let Some(enrolment) = enrolment else {
        // No second factor enrolled: a code sent anyway proves nothing.
        return Ok((user, false));
    };
    let totp = req.totp.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let recovery = req
        .recovery_code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if let Some(code) = totp {
        let Some(step) = crate::totp::verify(&enrolment.secret, code, now_ms() / 1000) else {
            tracing::info!(user = %user.name, "failed login: wrong one-time code");
            return Err(LoginError::Mfa("invalid one-time code".into()));
        };
        if !state.store().accept_totp_step(&user.id, step).await? {
            tracing::info!(user = %user.name, "failed login: reused one-time code");
            return Err(LoginError::Mfa(
                "this one-time code was already used; wait for the next one".into(),
            ));
        }
        return Ok((user, true));
    }
    if let Some(code) = recovery {
        let hash = crate::api::mfa::recovery_code_hash(code);
        if !state
            .store()
            .use_recovery_code(&user.id, &hash, now_ms())
            .await?
        {
            tracing::info!(user = %user.name, "failed login: wrong recovery code");
            return Err(LoginError::Mfa(
                "invalid or already used recovery code".into(),
            ));
        }
        tracing::info!(user = %user.name, "login with a recovery code");
        return Ok((user, true));
    }
    Err(LoginError::Mfa(format!(
        "{MFA_REQUIRED}: {} has multi-factor login; send the code from the authenticator app \
         (or a recovery code)",
        user.name
    )))
}

/// Revokes the token the request came with.
pub async fn logout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<LoggedOut>, ApiError> {
    state
        .store()
        .revoke_token(&caller.token_id, now_ms())
        .await?;
    // Taking access away is never refused for want of an audit record: recorded, not awaited.
    state
        .audit()
        .record(audit::event(
            &caller.user.name,
            caller.source_ip,
            "token.revoke",
            &format!("token:{}", caller.token_id),
            Outcome::Success,
            serde_json::json!({ "reason": "logout", "user": caller.user.name }),
        ))
        .await;
    Ok(Json(LoggedOut { revoked: true }))
}

pub async fn whoami(Extension(caller): Extension<Caller>) -> Json<WhoAmI> {
    Json(WhoAmI {
        user: caller.user.name,
        is_admin: caller.user.is_admin,
        mfa: caller.mfa,
    })
}

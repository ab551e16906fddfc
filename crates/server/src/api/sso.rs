//! Single sign-on login (`wicket login --sso`): the two public steps around the browser. See
//! [`crate::oidc`] for the protocol; this module maps a verified identity to a wicket user.
//!
//! - The user is found by the provider's (issuer, `sub`); on the first login it is created
//!   with the name from the configured username claim (fallback `sub`), no password and no
//!   admin flag. A name already taken by another account (a local one, or another identity) is
//!   refused, never merged. Disabled users, and identities whose user an administrator deleted,
//!   are refused.
//! - Every SSO login replaces the user's SSO-derived group memberships with the mapped groups
//!   of the groups claim (`[oidc.groups]`; unmapped values are ignored) and re-checks live
//!   sessions when a membership went away.
//! - The token is an ordinary wicket token (same TTL, hashing, revocation); it is marked `mfa`
//!   when the ID token's `amr` contains `mfa`. Failures count against the source address in
//!   the login rate limiter.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use wicket_api::{BeginRequest, BeginResponse, CompleteRequest, LoginResponse};
use wicket_store::{SsoIdentity, StoreError, User};

use serde_json::json;
use wicket_audit::Outcome;

use crate::api::login::{issue_token, LoginError};
use crate::error::ApiError;
use crate::limits;
use crate::now_ms;
use crate::oidc::{valid_name, Sso, SsoClaims, SsoError};
use crate::ratelimit::login_limiter;
use crate::state::AppState;

impl From<SsoError> for ApiError {
    fn from(e: SsoError) -> Self {
        let status = match e {
            SsoError::BadRequest(_) => StatusCode::BAD_REQUEST,
            SsoError::Refused(_) | SsoError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            SsoError::Provider(_) => StatusCode::BAD_GATEWAY,
        };
        ApiError::new(status, e.to_string())
    }
}

fn sso(state: &AppState) -> Result<&Sso, ApiError> {
    state.sso().ok_or_else(|| {
        ApiError::not_found("single sign-on is not configured on this server ([oidc] table)")
    })
}

pub async fn begin(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(req): Json<BeginRequest>,
) -> Result<Json<BeginResponse>, LoginError> {
    let ip = connect.map(|Extension(ConnectInfo(a))| a.ip());
    limits::length("redirect_uri", &req.redirect_uri, limits::TEXT)?;
    limits::length("code_challenge", &req.code_challenge, limits::CODE)?;
    let sso = sso(&state)?;
    if let Err(limited) = login_limiter().check_address(ip) {
        return Err(LoginError::Limited(String::new(), limited));
    }
    let begun = sso
        .begin(&req.redirect_uri, &req.code_challenge)
        .await
        .map_err(ApiError::from)?;
    Ok(Json(BeginResponse {
        auth_url: begun.auth_url,
        request_id: begun.request_id,
    }))
}

pub async fn complete(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(req): Json<CompleteRequest>,
) -> Result<Json<LoginResponse>, LoginError> {
    let ip = connect.map(|Extension(ConnectInfo(a))| a.ip());
    limits::length("request_id", &req.request_id, limits::CODE)?;
    limits::length("state", &req.state, limits::CODE)?;
    // Authorization codes are the provider's to shape; some run to a couple of KiB.
    limits::length("code", &req.code, 4 * limits::TEXT)?;
    limits::length("code_verifier", &req.code_verifier, limits::CODE)?;
    let sso = sso(&state)?;
    let limiter = login_limiter();
    if let Err(limited) = limiter.check_address(ip) {
        return Err(LoginError::Limited(String::new(), limited));
    }
    let claims = match sso
        .complete(&req.request_id, &req.state, &req.code, &req.code_verifier)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            if !matches!(e, SsoError::Provider(_)) {
                limiter.record_address_failure(ip);
            }
            tracing::info!(ip = ?ip, error = %e, "failed SSO login");
            let _ = state
                .audit()
                .append(sso_event(
                    "-",
                    ip,
                    Outcome::Failure,
                    json!({ "reason": e.to_string() }),
                ))
                .await;
            return Err(ApiError::from(e).into());
        }
    };
    let user = match sso_user(&state, &claims).await {
        Ok(u) => u,
        Err(e) => {
            limiter.record_address_failure(ip);
            tracing::info!(subject = %claims.subject, username = %claims.username, error = %e.message, "SSO login refused");
            let details = json!({
                "reason": e.message,
                "issuer": claims.issuer,
                "subject": claims.subject,
            });
            let _ = state
                .audit()
                .append(sso_event(&claims.username, ip, Outcome::Denied, details))
                .await;
            return Err(e.into());
        }
    };
    let groups = sso.config().map_groups(&claims.groups);
    let change = state
        .store()
        .set_sso_groups(&user.id, &groups, now_ms())
        .await?;
    if !change.removed.is_empty() {
        let ended = crate::broker::recheck(&state).await;
        tracing::info!(user = %user.name, removed = ?change.removed, sessions_ended = ended, "SSO groups removed");
    }
    if !change.created.is_empty() {
        tracing::info!(groups = ?change.created, "groups created by the SSO group mapping");
    }
    let mfa = claims.mfa();
    let response = issue_token(&state, &user, mfa, |token_id, expires_at| {
        sso_event(
            &user.name,
            ip,
            Outcome::Success,
            json!({
                "token_id": token_id,
                "mfa": mfa,
                "expires_at": expires_at,
                "issuer": claims.issuer,
                "subject": claims.subject,
                "groups": groups,
                "groups_added": change.added,
                "groups_removed": change.removed,
            }),
        )
    })
    .await?;
    limiter.record_success(&user.name, ip);
    tracing::info!(user = %user.name, mfa, groups = ?groups, added = ?change.added, "SSO login");
    Ok(Json(response))
}

/// An `auth.sso_login` audit event (never a code, a verifier or a token).
fn sso_event(
    user: &str,
    ip: Option<std::net::IpAddr>,
    outcome: Outcome,
    details: serde_json::Value,
) -> wicket_audit::Event {
    crate::audit::event(
        user,
        ip,
        "auth.sso_login",
        &format!("user:{user}"),
        outcome,
        details,
    )
}

/// The wicket user for a verified identity, created on first login. Refuses disabled and
/// deleted users and names taken by other accounts.
async fn sso_user(state: &AppState, claims: &SsoClaims) -> Result<User, ApiError> {
    let store = state.store();
    let user = match store.user_by_sso(&claims.issuer, &claims.subject).await? {
        Some(u) => u,
        None => {
            if store
                .sso_identity_deleted(&claims.issuer, &claims.subject)
                .await?
            {
                return Err(ApiError::forbidden(
                    "this account was deleted by an administrator; ask one to let it back in \
                     (wicket admin users enable NAME)",
                ));
            }
            let name = &claims.username;
            if !valid_name(name) {
                return Err(ApiError::forbidden(format!(
                    "the identity provider's user name {name:?} is not a valid wicket user name \
                     (1-64 letters, digits, '-', '_', '.' or '@')"
                )));
            }
            if store.user_by_name(name).await?.is_some() {
                return Err(ApiError::forbidden(format!(
                    "a wicket user named {name:?} already exists and is not linked to this \
                     single sign-on identity; an administrator must rename or delete it"
                )));
            }
            let identity = SsoIdentity {
                issuer: claims.issuer.clone(),
                subject: claims.subject.clone(),
            };
            match store.create_sso_user(name, &identity, now_ms()).await {
                Ok(u) => {
                    tracing::info!(user = %u.name, "user created by SSO login");
                    u
                }
                Err(StoreError::Conflict(m)) => return Err(ApiError::conflict(m)),
                Err(e) => return Err(e.into()),
            }
        }
    };
    if user.disabled {
        return Err(ApiError::forbidden("user is disabled"));
    }
    Ok(user)
}

//! Multi-factor login enrolment (self-service), status, and the admin reset.
//!
//! Enrolment has two steps: `POST /v1/mfa/enroll`, with the account's password, makes a
//! pending secret and returns it (as
//! base32 and as an `otpauth://` URI for a QR code); `POST /v1/mfa/confirm` with a code from
//! the authenticator app proves the app has it, enrols the user, and returns ten one-time
//! recovery codes, shown this once and stored only as SHA-256.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use wicket_api::{
    ConfirmRequest, ConfirmResponse, EnrollRequest, EnrollResponse, MfaReset, MfaStatus,
};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::now_ms;
use crate::secrets::{random_bytes, sha256, verify_password};
use crate::state::AppState;
use crate::totp;

/// How many recovery codes an enrolment gets.
pub const RECOVERY_CODES: usize = 10;

/// A new recovery code: 80 random bits as base32, in four groups of four (`ABCD-EFGH-...`).
pub fn new_recovery_code() -> String {
    let raw = totp::base32_encode(&random_bytes::<10>());
    raw.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// The stored hash of a recovery code, insensitive to case, dashes and spaces.
pub fn recovery_code_hash(code: &str) -> Vec<u8> {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    sha256(normal.as_bytes())
}

/// Starts enrolment for the caller: a new pending secret (replacing any pending one).
///
/// The password is asked for again: a token alone (one copied from a laptop) must not be
/// enough to tie the account to the thief's phone and lock the owner out. Wrong passwords
/// count against the login rate limits, so this is no way around them.
pub async fn enroll(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<EnrollRequest>,
) -> Result<Json<EnrollResponse>, ApiError> {
    crate::limits::length("password", &req.password, crate::limits::PASSWORD)?;
    if caller.user.sso.is_some() {
        return Err(ApiError::forbidden(
            "accounts from single sign-on get their second factor from the identity provider",
        ));
    }
    let limiter = crate::ratelimit::login_limiter();
    match limiter.admit(&caller.user.name, caller.source_ip) {
        Ok(crate::ratelimit::Admit::Now) => {}
        Ok(crate::ratelimit::Admit::After(wait)) => tokio::time::sleep(wait).await,
        Err(limited) => {
            return Err(ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                limited.message(&caller.user.name),
            ))
        }
    }
    let (password, stored) = (req.password, caller.user.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .map_err(ApiError::internal)?;
    if !ok {
        limiter.record_failure(&caller.user.name, caller.source_ip);
        tracing::info!(user = %caller.user.name, "multi-factor enrolment refused: wrong password");
        return Err(ApiError::forbidden(
            "wrong password: enrolling a second factor needs the account's password",
        ));
    }
    let secret = random_bytes::<{ totp::SECRET_LEN }>();
    state
        .store()
        .begin_totp_enrolment(&caller.user.id, &secret, now_ms())
        .await
        .map_err(|e| match e {
            wicket_store::StoreError::Conflict(m) => ApiError::conflict(m),
            other => other.into(),
        })?;
    tracing::info!(user = %caller.user.name, "multi-factor enrolment started");
    Ok(Json(EnrollResponse {
        secret: totp::base32_encode(&secret),
        uri: totp::otpauth_uri(&caller.user.name, &secret),
    }))
}

/// Confirms the caller's pending enrolment with a current code.
pub async fn confirm(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<ConfirmRequest>,
) -> Result<Json<ConfirmResponse>, ApiError> {
    let store = state.store();
    let pending = store
        .totp_enrolment(&caller.user.id)
        .await?
        .filter(|e| !e.is_confirmed())
        .ok_or_else(|| {
            ApiError::conflict("no pending enrolment; run `wicket mfa enroll` to start one")
        })?;
    let step = totp::verify(&pending.secret, &req.code, now_ms() / 1000).ok_or_else(|| {
        ApiError::bad_request(
            "invalid code; check the authenticator app and the clock, then try again",
        )
    })?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let hashes: Vec<Vec<u8>> = codes.iter().map(|c| recovery_code_hash(c)).collect();
    if !store
        .confirm_totp_enrolment(&caller.user.id, step, &hashes, now_ms())
        .await?
    {
        return Err(ApiError::conflict(
            "the enrolment changed meanwhile; run `wicket mfa enroll` again",
        ));
    }
    tracing::info!(user = %caller.user.name, "multi-factor login enrolled");
    Ok(Json(ConfirmResponse {
        enrolled: true,
        recovery_codes: codes,
    }))
}

pub async fn status(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<MfaStatus>, ApiError> {
    let enrolment = state.store().totp_enrolment(&caller.user.id).await?;
    let left = state.store().recovery_codes_left(&caller.user.id).await?;
    Ok(Json(MfaStatus {
        enrolled: enrolment.as_ref().is_some_and(|e| e.is_confirmed()),
        pending: enrolment.as_ref().is_some_and(|e| !e.is_confirmed()),
        recovery_codes_left: left,
        token_mfa: caller.mfa,
        user: caller.user.name,
    }))
}

/// Admin: removes a user's TOTP enrolment and recovery codes, so they log in with a password
/// alone until they enrol again. Tokens already issued keep working.
pub async fn reset(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<MfaReset>, ApiError> {
    let user = state
        .store()
        .user_by_name(&name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user named {name:?}")))?;
    let had = state.store().reset_mfa(&user.id).await?;
    tracing::info!(admin = %caller.user.name, user = %user.name, had, "multi-factor login reset");
    Ok(Json(MfaReset {
        user: user.name,
        reset: had,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_look_right_and_hash_loosely() {
        let c = new_recovery_code();
        assert_eq!(c.len(), 19, "{c}");
        assert_eq!(c.matches('-').count(), 3);
        assert_ne!(c, new_recovery_code());
        let loose = c.to_lowercase().replace('-', " ");
        assert_eq!(recovery_code_hash(&c), recovery_code_hash(&loose));
        assert_ne!(
            recovery_code_hash(&c),
            recovery_code_hash("AAAA-AAAA-AAAA-AAAA")
        );
    }
}

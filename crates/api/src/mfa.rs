//! Multi-factor login (TOTP): enrolment in two steps, status, and the admin reset.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/mfa/enroll`: the account's password, asked again so that a stolen token alone
/// cannot tie the account to someone else's phone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnrollRequest {
    /// The caller's password.
    #[serde(default)]
    pub password: String,
}

/// A new pending secret, for the authenticator app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnrollResponse {
    /// The shared secret, base32 without padding, for typing into an app.
    pub secret: String,
    /// `otpauth://totp/wicket:<user>?secret=...&issuer=wicket`, for a QR code.
    pub uri: String,
}

/// `POST /v1/mfa/confirm`: a code from the app, proving it holds the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConfirmRequest {
    /// The current 6-digit code.
    pub code: String,
}

/// The enrolment is done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConfirmResponse {
    /// Always `true` when the confirmation answers 200.
    pub enrolled: bool,
    /// One-time recovery codes, each usable once instead of a TOTP code. Shown only now; the
    /// server keeps their SHA-256.
    pub recovery_codes: Vec<String>,
}

/// `GET /v1/mfa`: the caller's own enrolment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MfaStatus {
    /// The caller.
    pub user: String,
    /// TOTP is confirmed: logins need a code.
    pub enrolled: bool,
    /// An enrolment was started and not yet confirmed.
    pub pending: bool,
    /// Recovery codes not yet used.
    pub recovery_codes_left: i64,
    /// Whether the token of this request came from a login with a second factor.
    pub token_mfa: bool,
}

/// `POST /v1/users/{name}/reset-mfa`: a user's TOTP and recovery codes removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MfaReset {
    /// The user reset.
    pub user: String,
    /// Whether there was anything to remove.
    pub reset: bool,
}

//! The body of every error answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a refused or failed request answers, with a 4xx or 5xx status:
/// `{"error": "..."}`, plus a field or two for the login's own refusals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, written for the person who made the request.
    pub error: String,
    /// A login whose password was right but which needs (or got a wrong) one-time code: ask
    /// for one and send the login again with it. Sent only as `true`, on a 401.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mfa_required: bool,
    /// Seconds until a rate-limited login may be tried again (also in `Retry-After`). Sent only
    /// on a 429 from a login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ErrorBody {
    /// The plain error body: a message and nothing else.
    pub fn new(error: impl Into<String>) -> Self {
        ErrorBody {
            error: error.into(),
            mfa_required: false,
            retry_after: None,
        }
    }
}

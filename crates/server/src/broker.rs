//! The broker: the one way a user's channel reaches a target.
//!
//! A channel a user opens on the link ([`crate::client_link`]) is a session (a shell or a
//! command), a TCP forward or a file copy. Each goes the same way here: the caller as the store
//! has it now ([`access`]), the target and its live agent link ([`target`]), the run-as user
//! resolved before the policy is asked, one [`crate::authz::authorize`] decision, a channel
//! opened on the agent, and [`relay`] splicing the two until both ends close or access is
//! taken away. The kinds differ only in their facts, their records and the tap the relay feeds
//! ([`session`], [`forward`], [`copy`]).
//!
//! **Architecture invariants:** a refusal is a [`Refusal`], never a bare string: a policy's no
//! reaches the user as a denial and an audit-log or database outage as that outage, never the
//! one as the other. Every relayed channel is registered in the
//! [`crate::sessions::SessionRegistry`], so a revocation ends it at once ([`access::recheck`]).

mod access;
mod copy;
mod forward;
mod hidden_input;
mod relay;
mod session;
mod target;

use thiserror::Error;
use wicket_mux::{IncomingChannel, MuxError};
use wicket_proto::{ErrorCode, OpenSpec};

use crate::auth::Caller;
use crate::authz::AuthzError;
use crate::state::AppState;

pub use access::{end_requested, recheck};
pub use target::{find_target, resolve_run_as};

/// Checks the channel `request` asks for and, if it is allowed, opens it on the target and
/// relays it until it ends. `version` is the protocol version of the user's link.
pub async fn open(state: AppState, caller: Caller, request: IncomingChannel, version: u16) {
    match request.spec().clone() {
        OpenSpec::Session(mut spec) => {
            // Compressed output only for a client whose link speaks version 4.
            spec.compress_output &= version >= 4;
            session::open(state, caller, request, spec).await
        }
        OpenSpec::Tcp(spec) => forward::open(state, caller, request, spec).await,
        OpenSpec::Copy(spec) => copy::open(state, caller, request, spec).await,
    }
}

/// Why a channel was not opened. Its text is what the user reads; [`Refusal::code`] is the
/// protocol's code for it.
#[derive(Debug, Error)]
pub enum Refusal {
    /// The request itself is malformed (no target, a bad destination or path).
    #[error("{0}")]
    BadRequest(String),
    /// The caller's login no longer holds: user disabled or deleted, token revoked or expired.
    #[error("{0}")]
    Unauthenticated(String),
    /// No such target, or a revoked one (the name is shown escaped and cut).
    #[error("unknown target \"{}\"", crate::limits::shown(.0))]
    UnknownTarget(String),
    /// The target's agent is not connected.
    #[error("target {0} is offline (its agent is not connected)")]
    Offline(String),
    /// The agent's protocol predates what the request needs.
    #[error(
        "target {target}'s agent speaks protocol version {version}, which has no {feature} \
         (version {needed} or later is needed): upgrade wicket-agent on that host"
    )]
    AgentTooOld {
        target: String,
        version: u16,
        needed: u16,
        feature: &'static str,
    },
    /// A policy said no; the text names what was refused and why.
    #[error("{0}")]
    Denied(String),
    /// The audit log could not record the decision or the start: nothing was done.
    #[error("the audit log is unavailable; nothing was done")]
    AuditUnavailable,
    /// The session cannot be recorded and the server refuses unrecorded sessions.
    #[error("session refused: it cannot be recorded ({0})")]
    RecordingUnavailable(String),
    /// The database failed (logged in full where it happened).
    #[error("the database is unavailable; try again shortly")]
    Store,
    /// The agent refused the channel (its own words), or its link failed while opening.
    #[error("{reason}")]
    Agent { code: ErrorCode, reason: String },
}

impl Refusal {
    /// The protocol's error code for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            Refusal::BadRequest(_) => ErrorCode::Protocol,
            Refusal::Unauthenticated(_) => ErrorCode::Unauthorized,
            Refusal::UnknownTarget(_) => ErrorCode::UnknownTarget,
            Refusal::Offline(_) => ErrorCode::TargetOffline,
            Refusal::AgentTooOld { .. } => ErrorCode::Unsupported,
            Refusal::Denied(_) => ErrorCode::Forbidden,
            Refusal::AuditUnavailable | Refusal::Store => ErrorCode::Internal,
            Refusal::RecordingUnavailable(_) => ErrorCode::RecordingUnavailable,
            Refusal::Agent { code, .. } => *code,
        }
    }

    /// The refusal for an agent that would not (or could not) open the channel.
    fn agent(target: &str, e: MuxError) -> Self {
        match e {
            MuxError::Rejected { code, reason } => Refusal::Agent { code, reason },
            other => Refusal::Agent {
                code: ErrorCode::TargetOffline,
                reason: format!("target {target}: {other}"),
            },
        }
    }

    /// Tells the user, and logs it.
    fn reject(&self, request: IncomingChannel, caller: &Caller, kind: &str) {
        tracing::info!(user = %caller.user.name, code = %self.code(), reason = %self, "{kind} refused");
        request.reject(self.code(), &self.to_string());
    }
}

impl From<AuthzError> for Refusal {
    fn from(e: AuthzError) -> Self {
        match e {
            AuthzError::Denied(why) => Refusal::Denied(why),
            AuthzError::AuditUnavailable(_) => Refusal::AuditUnavailable,
        }
    }
}

impl From<crate::audit::AuditUnavailable> for Refusal {
    fn from(_: crate::audit::AuditUnavailable) -> Self {
        Refusal::AuditUnavailable
    }
}

impl From<wicket_store::StoreError> for Refusal {
    fn from(e: wicket_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure while opening a channel");
        Refusal::Store
    }
}

/// For the API handlers that look a target up (`policies explain`, agent revocation).
impl From<Refusal> for crate::error::ApiError {
    fn from(r: Refusal) -> Self {
        use crate::error::ApiError;
        use axum::http::StatusCode;
        let status = match r {
            Refusal::UnknownTarget(_) => StatusCode::NOT_FOUND,
            Refusal::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Refusal::Denied(_) => StatusCode::FORBIDDEN,
            Refusal::AuditUnavailable | Refusal::Store | Refusal::RecordingUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Refusal::Agent { .. } => StatusCode::BAD_GATEWAY,
            Refusal::BadRequest(_) | Refusal::Offline(_) | Refusal::AgentTooOld { .. } => {
                StatusCode::BAD_REQUEST
            }
        };
        ApiError::new(status, r.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_never_a_denial() {
        let audit = Refusal::from(AuthzError::AuditUnavailable(crate::audit::AuditUnavailable));
        assert_eq!(audit.code(), ErrorCode::Internal);
        assert!(audit.to_string().contains("audit log is unavailable"));
        let denied = Refusal::from(AuthzError::Denied("alice may not connect: x".into()));
        assert_eq!(denied.code(), ErrorCode::Forbidden);
        assert_eq!(denied.to_string(), "alice may not connect: x");
        assert_eq!(Refusal::Store.code(), ErrorCode::Internal);
        assert!(!Refusal::Store.to_string().contains("sqlite"));
    }
}

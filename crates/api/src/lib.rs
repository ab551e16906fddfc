//! The wicketd HTTP API as data: every JSON request and response body of `/v1/...`, the error
//! body, and the OpenAPI 3 document made from them.
//!
//! **Architecture invariant:** the server and every client (the `wicket` CLI, the agent's
//! enrolment, the API client's error handling) use these types; nobody writes an API body
//! again. Changing a field here changes it for all of them at once, so the wire stays what
//! this crate says. The document served at `GET /v1/openapi.json` is generated from the same
//! types ([`openapi()`]).
//!
//! Plain data only: serde and utoipa derives, no IO, no behaviour (but for `openapi::check`,
//! a test helper behind the `test-util` feature). Times are unix milliseconds (`i64`), as
//! everywhere in wicket.
//!
//! # Layout
//! One module per resource, like the server's handlers:
//! - [`error`]: [`ErrorBody`], the body of every refusal.
//! - [`health`]: `/healthz`, `/readyz`.
//! - [`auth`]: password login, logout, whoami, and single sign-on.
//! - [`console`]: the web console's cookie sign-in and its terminal WebSocket's messages.
//! - [`mfa`]: multi-factor enrolment, status and the admin reset.
//! - [`targets`], [`activations`], [`enroll`], [`agents`]: targets and how hosts become one.
//! - [`users`], [`groups`], [`policies`], [`tokens`]: administration.
//! - [`sessions`]: the session history and terminating one.
//! - [`audit`]: reading the audit log (its events, checkpoints and seals are `wicket-audit`'s
//!   own types; this module has the pages and requests around them).
//! - [`mod@openapi`]: the OpenAPI document: every route, its bodies, and who may call it.

#![forbid(unsafe_code)]

pub mod activations;
pub mod agents;
pub mod audit;
pub mod auth;
pub mod console;
pub mod enroll;
pub mod error;
pub mod groups;
pub mod health;
pub mod mfa;
pub mod openapi;
pub mod policies;
pub mod sessions;
pub mod targets;
pub mod tokens;
pub mod users;

pub use activations::{ActivationView, CreateActivation, CreatedActivation};
pub use agents::{AgentRemoved, AgentRevoked, AgentTags, AgentView, SetTags};
pub use audit::{CheckpointQuery, EventPage, EventQuery, PublicKey, SealRequest};
pub use auth::{
    BeginRequest, BeginResponse, CompleteRequest, LoggedOut, LoginRequest, LoginResponse, WhoAmI,
};
pub use console::{
    ConsoleConfig, ConsoleSession, SsoCallback, TerminalControl, TerminalEvent, TerminalQuery,
};
pub use enroll::{RegisterRequest, RegisterResponse};
pub use error::ErrorBody;
pub use groups::{AddMember, CreateGroup, Group, GroupDeleted, Membership};
pub use health::Health;
pub use mfa::{
    ConfirmRequest, ConfirmResponse, EnrollRequest, EnrollResponse, MfaReset, MfaStatus,
};
pub use openapi::openapi;
pub use policies::{
    ActivePolicy, ExplainRequest, Explanation, PolicyActivated, PolicyText, Problem, Validation,
};
pub use sessions::{SessionQuery, SessionView, Terminated};
pub use targets::TargetView;
pub use tokens::{TokenRevoked, TokenView};
pub use users::{CreateUser, CreatedUser, UserDeleted, UserDisabled, UserView};

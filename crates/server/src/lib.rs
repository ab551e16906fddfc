//! `wicketd` as a library: the control plane.
//!
//! One HTTPS port carries everything: the JSON API, the agents' links and the users' links
//! (both WebSockets). A user's session is a channel on the user's link that the server splices
//! to a channel it opens on the target agent's link, after authenticating the user and asking
//! [`authz::authorize`] whether the request is allowed.
//!
//! **Architecture invariants:** every route declares its access level in [`routes`], and the
//! one middleware in [`auth`] enforces it before any handler runs; every decision about what a
//! caller may do goes through [`authz::authorize`]; only `wicket-store` speaks SQL.
//!
//! # Layout
//! - [`config`]: the TOML file, `WICKET_*` overrides, defaults.
//! - [`server`]: binding, TLS, serving, shutdown ([`Server`]).
//! - [`routes`]: the route table with each route's access level.
//! - [`auth`]: bearer-token authentication, the [`auth::Caller`].
//! - [`authz`]: the authorization decision (Cedar, through `wicket-policy`).
//! - [`segments`]: sealed audit segments shipped to the object store as they fill.
//! - [`limits`]: the bound on every field the network sends, and the check applying it.
//! - [`secrets`]: tokens, password and code hashing.
//! - [`audit`]: the audit writer ([`audit::AuditLog`]), its key, checkpoints and the
//!   per-request audit middleware.
//! - [`oidc`]: OpenID Connect single sign-on (wicketd as the relying party).
//! - [`totp`]: TOTP codes (RFC 6238) and base32 secrets for multi-factor login.
//! - [`ratelimit`]: failed-login limits per user name and source address (in memory).
//! - [`api`]: the JSON handlers.
//! - [`agent_link`]: the agents' WebSocket endpoint.
//! - [`registry`]: the agents connected to this process ([`registry::AgentRegistry`]), and
//!   [`registry::AgentConn::open`], the one way a channel is opened on an agent.
//! - [`quota`]: each user's share of an agent link's channels.
//! - [`replicas`]: this process among the replicas on one database; dead ones' sessions ended.
//! - [`state`]: [`AppState`], what every handler shares.
//! - [`sessions`]: live sessions, re-checked whenever access may have been taken away.
//! - [`tail`]: watching a session another replica relays, through its recording.
//! - [`recordings`]: recording sessions (store, fail-closed or fail-open, retention).
//! - [`settings`]: session settings (timeouts, profile, banner) from config, tags and policies.
//! - [`client_link`]: the users' WebSocket endpoint and session brokering.
//! - [`forwards`]: TCP forwards on a user's link, their policy check and their log record.
//! - [`handshake`]: the server's side of a link handshake, shared by both endpoints.
//! - [`ws`]: axum WebSockets as mux transports.
//! - [`error`]: [`ApiError`], the JSON error body, and [`ServerError`].

pub mod agent_link;
pub mod api;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod client_link;
pub mod config;
pub mod copies;
pub mod error;
pub mod forwards;
pub mod handshake;
pub mod limits;
pub mod oidc;
pub mod quota;
pub mod ratelimit;
pub mod recordings;
pub mod registry;
pub mod replicas;
pub mod routes;
pub mod secrets;
pub mod segments;
pub mod server;
pub mod sessions;
pub mod settings;
pub mod state;
pub mod tail;
pub mod totp;
pub mod ws;

pub use config::ServerConfig;
pub use error::{ApiError, ServerError};
pub use server::Server;
pub use state::AppState;

/// This build's version, reported to peers.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Now, as unix milliseconds, the unit of every stored time.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

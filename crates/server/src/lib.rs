//! `wicketd` as a library: the control plane.
//!
//! One HTTPS port carries everything: the JSON API, the agents' links and the users' links
//! (both WebSockets). A user's session is a channel on the user's link that the server splices
//! to a channel it opens on the target agent's link, after authenticating the user and asking
//! `authz::authorize` whether the request is allowed.
//!
//! **Architecture invariants:** every route declares its access level in [`routes`], and the
//! one middleware (`middleware::require`) enforces it before any handler runs; every decision
//! about what a caller may do goes through `authz::authorize`; every channel a user opens to
//! a target goes through the one broker (`broker`); only `wicket-store` speaks SQL. Modules
//! depend downwards only, in the order listed below (no import cycles): the services
//! [`AppState`] holds know nothing of it, and the HTTP layer sits on top.
//!
//! # Layout
//! Leaves:
//! - `error`: [`ApiError`], the JSON error body, and [`ServerError`].
//! - `limits`: the bound on every field the network sends, and the check applying it.
//! - [`secrets`]: tokens, password and code hashing.
//! - [`totp`]: TOTP codes (RFC 6238) and base32 secrets for multi-factor login.
//! - `ratelimit`: failed-login limits per user name and source address (in memory).
//! - `quota`: each user's share of an agent link's channels.
//! - `settings`: session settings (timeouts, profile, banner) from config, tags and policies.
//! - `ws`: axum WebSockets as mux transports.
//!
//! The services [`AppState`] holds, and the state itself:
//! - [`oidc`]: OpenID Connect single sign-on (wicketd as the relying party).
//! - `config`: the TOML file, `WICKET_*` overrides, defaults.
//! - [`audit`]: the audit log ([`audit::AuditLog`]: writer task, sink, checkpoints) and its key.
//! - `registry`: the agents connected to this process, and `AgentConn::open`, the one way a
//!   channel is opened on an agent.
//! - `sessions`: what is live here (sessions, forwards, copies), each with its end switch.
//! - `state`: [`AppState`], what every handler shares.
//!
//! On the state:
//! - `auth`: bearer-token authentication, the `Caller`, and [`Access`] levels.
//! - `authz`: the authorization decision (Cedar, through `wicket-policy`), recorded.
//! - `recordings`: recording sessions (store, fail-closed or fail-open, retention).
//! - `tail`: watching a session another replica relays, through its recording.
//! - `segments`: sealed audit segments shipped to the object store as they fill.
//! - `replicas`: this process among the replicas on one database; dead ones' sessions ended.
//! - `handshake`: the server's side of a link handshake, shared by both endpoints.
//! - `broker`: target lookup, run-as, the session, forward and copy openers, the one relay,
//!   and the re-check that ends what is no longer allowed.
//!
//! The HTTP layer:
//! - `agent_link`, `client_link`: the agents' and the users' WebSocket endpoints.
//! - `api`: the JSON handlers.
//! - `console`: the web console's embedded page and its terminal WebSocket (a session on an
//!   in-memory user link, so through the same broker).
//! - `middleware`: authentication/authorization and the per-request audit record.
//! - [`routes`]: the route table with each route's access level.
//! - `server`: binding, TLS, serving, shutdown ([`Server`]).

mod agent_link;
mod api;
pub mod audit;
mod auth;
mod authz;
mod broker;
mod client_link;
mod config;
mod console;
mod error;
mod handshake;
mod limits;
mod middleware;
pub mod oidc;
mod quota;
mod ratelimit;
mod recordings;
mod registry;
mod replicas;
pub mod routes;
mod screen;
pub mod secrets;
mod segments;
mod server;
mod sessions;
mod settings;
mod state;
mod tail;
pub mod totp;
mod ws;

pub use auth::Access;
pub use config::ServerConfig;
pub use error::{ApiError, ServerError};
pub use server::{private_dir, Server};
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

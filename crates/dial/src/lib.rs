//! Reaching wicketd from the outside: what an agent and the CLI share.
//!
//! Both only ever dial out, to one HTTPS port, possibly through an HTTP proxy, and both pin the
//! server's private CA. This crate turns a server URL and a [`wicket_tls::Trust`] into either a
//! WebSocket link ready for a [`wicket_mux::Mux`] or an HTTP client for the JSON API.
//!
//! # Layout
//! - [`backoff`]: the delays between attempts to dial again.
//! - [`server_url`]: parsing and normalising the server URL.
//! - [`proxy`]: `HTTPS_PROXY` / `NO_PROXY` and the HTTP CONNECT tunnel.
//! - [`websocket`]: dialing the link and adapting tungstenite to a mux transport.
//! - [`api`]: the reqwest client with the same trust.

pub mod api;
pub mod backoff;
pub mod proxy;
pub mod server_url;
pub mod websocket;

pub use api::{ApiClient, ApiError, ByteStream};
pub use backoff::Backoff;
/// HTTP methods, for [`ApiClient::call`].
pub use reqwest::Method;
pub use server_url::ServerUrl;
pub use websocket::{dial, DialError};

//! `wicket-agent` as a library: the program on every target host.
//!
//! It enrols once with an activation code ([`register`]), then keeps one outbound link to
//! wicketd ([`link`]) and serves the sessions the server opens on it ([`session`]). It never
//! opens a listening socket: everything arrives over the link it dialed.
//!
//! # Layout
//! - [`identity`]: the Ed25519 key and target id, stored mode 0600.
//! - [`register`]: enrolment with an activation code.
//! - [`link`]: the outbound link, its handshake, heartbeats and reconnects with backoff
//!   ([`wicket_dial::Backoff`]).
//! - [`inventory`]: what the host reports on connect.
//! - [`session`]: one channel's shell or command, wired to a process.
//! - [`copy_helper`]: the file side of `wicket cp`, run as the run-as user in a process of
//!   its own.
//! - [`forward`]: a `tcp` channel wired to a connection from this host, and the address filter.
//! - [`process`]: starting processes on PTYs or pipes, as the run-as user.
//! - [`error`][]: [`AgentError`].

pub mod copy_helper;
pub mod error;
pub mod forward;
pub mod identity;
pub mod inventory;
pub mod link;
pub mod process;
pub mod register;
pub mod session;

pub use error::AgentError;
pub use identity::Identity;

/// This build's version, reported in the inventory.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

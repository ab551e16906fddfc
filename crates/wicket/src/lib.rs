//! The command lines of the three binaries, kept out of their `main`s so each `main` stays a
//! few lines, plus the one-command demo.
//!
//! # Layout
//! - [`wicketd`]: `wicketd serve | admin | dev` argument handling.
//! - [`agent`]: `wicket-agent register | run`.
//! - [`dev`]: `wicketd dev`: a server, an admin, an enrolled local agent and a profile.
//! - [`logging`]: tracing setup shared by the daemons.

pub mod agent;
pub mod dev;
pub mod logging;
pub mod wicketd;

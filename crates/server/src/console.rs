//! The web console: its page and assets, built from `web/` by this crate's build script and
//! embedded in the binary ([`assets`]), and its terminal, a WebSocket that drives a session
//! through an in-memory user link, so the broker, policy, recording and audit are the CLI's
//! ([`terminal`]). Its JSON routes (cookie sign-in, who is signed in) are in `api::console`.
//!
//! **Architecture invariant:** the console can do nothing the CLI cannot. Every call it makes
//! is a route of [`crate::routes`], authenticated by the same middleware (its cookie holds an
//! ordinary token) and authorized by the same policy; the console adds only the cookie's
//! CSRF and `Origin` checks on top.

pub(crate) mod assets;
pub(crate) mod terminal;

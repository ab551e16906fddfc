//! The end-to-end tests: real `wicketd`, `wicket-agent` and `wicket` processes on 127.0.0.1,
//! started through `wicket_testkit`. One test binary with a module per area, because each
//! binary links every crate of the workspace: one link instead of one per area, and the tests
//! of every area run side by side.
//!
//! The tests share this process, so none may change what the others rely on: no
//! `std::env::set_var`, no changed working directory, no signal dispositions (a test that
//! needs one gets its own binary, like `crates/agent/tests/ignored_signals.rs`). The one
//! process-wide setting changed here is the umask in `hardening`, set to the usual 022.
//!
//! Tests that need root or an optional tool carry
//! `#[cfg_attr(not(has_…), ignore = "needs …")]`; `build.rs` sets the `has_…` flags for what
//! this machine has (see `wicket_testprobe`), so a test that cannot run here is counted as
//! ignored, with the reason, in cargo's summary.
//!
//! # Layout
//! - [`session`]: enrol, list, connect; exit statuses, stdout and stderr, stdin.
//! - [`interactive`]: a session on a real local PTY; a hung agent; the `~.` escape.
//! - [`session_settings`]: banner, shell profile, idle timeout, maximum duration.
//! - [`lifecycle`]: links come back after restarts; dead agents show offline; a session hears
//!   in words when its agent or server goes.
//! - [`login_expiry`]: a session warned before its login expires, renewed by a new login.
//! - [`auth`]: refusals on every authenticated route and at enrolment.
//! - [`access`]: Cedar policies, groups, MFA in policy, revocation.
//! - [`broker`]: an outage is never reported as a denial, for every kind of channel.
//! - [`mfa`]: multi-factor login.
//! - [`oidc`]: single sign-on against a real OpenID Provider (needs node and its packages).
//! - [`audit`]: the audit log, its verifier, export, two servers on one database.
//! - [`recording`]: session recording, replay, watch, terminate, stores (S3 needs s3s-fs).
//! - [`forward`]: `wicket forward`.
//! - [`cp`]: `wicket cp` (needs root: the agent switches users).
//! - [`proxy`]: agents behind an HTTP proxy.
//! - [`ssh_proxy`]: OpenSSH through `wicket proxy` (needs root, sshd, ssh, rsync).
//! - [`no_inbound`]: an agent in a network namespace with no inbound port (needs root, `ip`).
//! - [`frames`]: malformed and oversized frames.
//! - [`hardening`]: the attacks of issue #18.
//! - [`dev`]: `wicketd dev`.
//! - [`everyday`]: status, profiles, logging in again, targets filters, completion, exec
//!   (rsync and git over it need both tools), agent administration.
//! - [`cli`]: the CLI without a server: completions and help.
//! - [`console`]: the web console in a real Chromium (needs `chromium` and playwright-core),
//!   and the forged requests it refuses.

mod access;
mod audit;
mod auth;
mod broker;
mod cli;
mod console;
mod cp;
mod dev;
mod everyday;
mod forward;
mod frames;
mod hardening;
mod interactive;
mod lifecycle;
mod login_expiry;
mod mfa;
mod no_inbound;
mod oidc;
mod proxy;
mod recording;
mod session;
mod session_settings;
mod ssh_proxy;

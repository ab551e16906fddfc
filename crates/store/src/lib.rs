//! wicket-store is the persistence layer of the wicket control plane and the only crate that
//! speaks SQL. It keeps users, bearer tokens, activations (enrolment codes) and targets
//! (enrolled agents) in either one SQLite file (the default) or PostgreSQL, through
//! `sqlx::Any`, so one set of queries serves both backends. Secrets never reach the database in
//! the clear: tokens and activation codes are stored only as hashes computed by the caller.
//!
//! Layout:
//! - `db`: [`Store`], opening a URL, migrations, and small helpers (ids, hex, constant-time eq).
//! - `error`: [`StoreError`] and [`RegisterError`].
//! - `users`: [`User`] accounts.
//! - `groups`: [`Group`]s and their members.
//! - `policies`: the versioned Cedar policy text ([`PolicyVersion`]).
//! - `sso`: users created by single sign-on and their SSO-derived group memberships.
//! - `tokens`: [`Token`] bearer tokens.
//! - `mfa`: [`TotpEnrolment`] secrets, replay protection and recovery codes.
//! - `activations`: [`Activation`] codes and the transactional [`Store::register_target`].
//! - `targets`: [`Target`] agents and their [`Inventory`].
//! - `sessions`: the history of sessions ([`SessionRecord`]).
//! - `replicas`: which wicketd processes are alive, and the sessions of dead ones ended.
//! - `audit`: the hash-chained audit log ([`Store::append_audit`], [`AuditFilter`]) and its
//!   signed checkpoints.
//! - `testing` (tests or feature `test-util`): throw-away PostgreSQL databases for test suites.
//! - `migration_pairs` (tests): the SQLite and PostgreSQL migrations stay one schema.

mod activations;
mod audit;
mod db;
mod error;
mod groups;
mod mfa;
mod policies;
mod replicas;
mod sessions;
mod sso;
mod targets;
mod tokens;
mod users;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;

#[cfg(test)]
mod migration_pairs;

pub use activations::{Activation, NewActivation};
pub use audit::{AuditFilter, AUDIT_PAGE_MAX};
pub use db::{Backend, Store};
pub use error::{RegisterError, StoreError};
pub use groups::Group;
pub use mfa::TotpEnrolment;
pub use policies::PolicyVersion;
pub use sessions::{SessionEnd, SessionFilter, SessionRecord};
pub use sso::SsoGroupChange;
pub use targets::{Inventory, NewTarget, Target};
pub use tokens::Token;
pub use users::{SsoIdentity, User};

/// A point in time as unix milliseconds; every time column in the schema uses this.
pub type Millis = i64;

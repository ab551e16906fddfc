//! Authorization for wicket: who may do what, on which target, under which circumstances.
//!
//! Operators write [Cedar](https://www.cedarpolicy.com) policies against a fixed schema
//! (namespace `Wicket`, see `docs/POLICY.md`): principals are users and their groups, resources
//! are targets with tags or the control plane itself, and the context carries the run-as user,
//! MFA, source address, time (as seconds and as a Cedar datetime) and, for forwards, the destination. A [`PolicySet`] is parsed and
//! validated once, with every error pinned to a line and column; after that
//! [`PolicySet::authorize`] turns plain Rust descriptions of a request into a [`Decision`] that
//! names the policies that made it, so each decision can be audited. Default deny.
//!
//! **Architecture invariant:** this crate does no IO, no async and no database access. The
//! server loads users, groups, targets and the policy text, and passes them in.
//!
//! # Layout
//! - [`schema`]: the Cedar schema (`wicket.cedarschema`) and [`DEFAULT_POLICIES`].
//! - [`action`]: the [`Action`] enum and its Cedar names.
//! - [`entities`]: [`PrincipalInfo`], [`TargetInfo`], [`Resource`], [`RequestContext`] and how
//!   they become Cedar entities and context.
//! - [`policy_set`]: [`PolicySet::parse`], the policy-id rule and strict validation.
//! - [`engine`]: [`PolicySet::authorize`] and [`Decision`].
//! - `datetime`: unix seconds as the Cedar datetime `context.now`.
//! - [`diagnostic`]: [`PolicyError`] and [`Diagnostic`], byte offsets turned into lines and
//!   columns.

pub mod action;
mod datetime;
pub mod diagnostic;
pub mod engine;
pub mod entities;
pub mod policy_set;
pub mod schema;

pub use action::{Action, UnknownAction};
pub use diagnostic::{Diagnostic, PolicyError};
pub use engine::Decision;
pub use entities::{PrincipalInfo, RequestContext, Resource, TargetInfo, SERVER_ID};
pub use policy_set::PolicySet;
pub use schema::{schema_text, DEFAULT_POLICIES};

//! wicket-audit: the tamper-evident audit log as plain data and arithmetic.
//!
//! Every event the control plane records is encoded canonically ([`encode`]), chained to the
//! event before it with `hash = SHA-256(prev_hash || canonical_event)` starting from
//! [`GENESIS`], and every so often the head of the chain is signed with the server's Ed25519
//! audit key ([`Checkpoint`]). [`verify()`] walks events and checkpoints and names the first
//! event that was changed, removed, inserted or reordered. Exports are cut into segments, each
//! closed by a signed [`Seal`]. The byte formats are documented in `docs/AUDIT.md`.
//!
//! **Architecture invariant:** this crate does no IO. Storage is `wicket-store`'s job, keys on
//! disk and the writer are `wicket-server`'s; this crate only encodes, hashes, signs and checks.
//!
//! # Layout
//! - [`event`]: [`Event`], [`Outcome`], [`ChainedEvent`], the canonical encoding and the hash.
//! - [`signing`]: [`AuditKey`] (Ed25519), [`Checkpoint`] and [`Seal`] and their signed messages.
//! - [`verify`](mod@verify): the verifier and the [`Break`] it reports.
//! - [`keys`]: which key signed which checkpoints when the audit key was replaced.

#![forbid(unsafe_code)]

pub mod event;
pub mod keys;
pub mod signing;
pub mod verify;

pub use event::{
    canonical_json, chain_hash, decode, encode, ChainedEvent, DecodeError, Event, Hash, Outcome,
    GENESIS,
};
pub use keys::{KeyAdoption, KeyHistory, ADOPT_ACTION};
pub use signing::{segment_text, verify_signature, AuditKey, Checkpoint, KeyError, Seal};
pub use verify::{verify, verify_segment, Break, ChainVerifier, Report};

//! TLS for wicket: one rustls setup (aws-lc-rs) shared by `wicketd`, agents and the CLI.
//!
//! `wicketd` either runs its own private CA, generated on first start and kept on disk,
//! or serves operator-provided certificates. Agents and the CLI trust the server either
//! by pinning a certificate's SHA-256 fingerprint (normally the private CA's, printed
//! by `wicketd` and handed out with enrolment tokens) or through the OS trust store.
//! Pinning the CA rather than the server certificate lets the server renew its own
//! certificate without touching any agent.
//!
//! Layout:
//! - `error`: [`TlsError`].
//! - `fingerprint`: [`Fingerprint`], its canonical text form and lenient parsing.
//! - `ca`: generating the private CA and the server certificates it signs (rcgen).
//! - `identity`: [`ServerIdentity`], load-or-create on disk, operator PEM files,
//!   and the server config.
//! - `pin`: the pinning certificate verifier and [`PinMismatch`].
//! - `system`: the OS-store verifier and [`UnknownCa`], its error for a CA it does not know.
//! - `config`: [`Trust`], [`client_config`] and the shared crypto provider.
//! - `files`: PEM reading and atomic, permission-aware file writes; [`write_private`], the
//!   one way wicket writes a secret file.

mod ca;
mod config;
mod error;
mod files;
mod fingerprint;
mod identity;
mod pin;
mod system;

pub use config::{client_config, Trust};
pub use error::TlsError;
pub use files::write_private;
pub use fingerprint::Fingerprint;
pub use identity::ServerIdentity;
pub use pin::PinMismatch;
pub use system::UnknownCa;

/// Install aws-lc-rs as the process-wide rustls `CryptoProvider`.
///
/// Configs built by this crate name their provider explicitly and do not need this, but
/// other rustls users in the process (reqwest, tokio-tungstenite, …) consult the
/// process default and panic or fail if none or several providers are compiled in.
/// Idempotent: safe to call from every binary and test, any number of times.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread installing a provider is fine either way.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

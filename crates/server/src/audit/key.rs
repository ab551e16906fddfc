//! The audit signing key's file, and the database's claim on it.

use std::path::Path;

use wicket_audit::AuditKey;
use wicket_store::Store;

use crate::error::ServerError;

/// The name of the key file in the data dir (PKCS#8 Ed25519, mode 0600).
pub const KEY_FILE: &str = "audit.key";

/// Loads the audit key from `path`, creating it (mode 0600, written atomically) on first start.
pub fn load_or_create_key(path: &Path) -> Result<AuditKey, ServerError> {
    match std::fs::read(path) {
        Ok(der) => AuditKey::from_pkcs8(&der)
            .map_err(|e| ServerError::Config(format!("audit key {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let der = AuditKey::generate_pkcs8()
                .map_err(|e| ServerError::Config(format!("audit key: {e}")))?;
            wicket_tls::write_private(path, &der)?;
            tracing::info!(path = %path.display(), "created the audit signing key");
            AuditKey::from_pkcs8(&der).map_err(|e| ServerError::Config(format!("audit key: {e}")))
        }
        Err(e) => Err(ServerError::Config(format!(
            "cannot read audit key {}: {e}",
            path.display()
        ))),
    }
}

/// Makes sure `key` is the one that signs the database's chain: the first server claims the
/// database for its key, and a server with another key is refused with the way out, since
/// its checkpoints would not verify under the key auditors pinned.
///
/// `key_existed` says the key file was there before this start: the key has signed a chain
/// already. A database that then has no chain at all (no claimed key, no event) is not a new
/// install but a lost one (a zero-length file, a database swapped for an empty one), and the
/// server refuses it rather than start a new chain as if nothing had been recorded.
pub async fn claim_chain(
    store: &Store,
    key: &AuditKey,
    path: &Path,
    key_existed: bool,
) -> Result<(), ServerError> {
    if key_existed && store.audit_key().await?.is_none() && store.audit_head().await?.0 == 0 {
        return Err(ServerError::Config(format!(
            "the database has no audit chain, but this wicketd's audit key ({}) has signed one \
             before: the database was emptied or replaced. Restore it from a backup. To start \
             a new chain on purpose (a new install in an old data directory), move the key file \
             aside first",
            path.display()
        )));
    }
    let ours = hex::encode(key.public_key());
    let theirs = store.claim_audit_key(&ours).await?;
    if theirs == ours {
        return Ok(());
    }
    Err(ServerError::Config(format!(
        "this database's audit chain is signed by audit key {theirs}, but this wicketd's key \
         ({}) is {ours}. Replicas sharing a database must share the key file: copy it from a \
         server that has it ([audit] key_file, WICKET_AUDIT_KEY_FILE). If that key is lost for \
         good, `wicketd audit adopt-key` makes this one the key from now on (recorded in the chain)",
        path.display()
    )))
}

/// Reads the key without creating it (for `wicketd audit public-key`).
pub fn read_key(path: &Path) -> Result<AuditKey, ServerError> {
    let der = std::fs::read(path).map_err(|e| {
        ServerError::Config(format!("cannot read audit key {}: {e}", path.display()))
    })?;
    AuditKey::from_pkcs8(&der)
        .map_err(|e| ServerError::Config(format!("audit key {}: {e}", path.display())))
}

//! Reading and writing PEM files, atomically and with private keys kept private.

use std::fs;
use std::io::{BufReader, Write};
use std::path::Path;

use base64::Engine as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsError;

/// Mode for private keys: readable by the service user only.
pub(crate) const KEY_MODE: u32 = 0o600;
/// Mode for certificates: public material, world-readable so operators can hand them out.
pub(crate) const CERT_MODE: u32 = 0o644;

/// Read a file into a string, with the path in the error.
pub(crate) fn read_to_string(path: &Path) -> Result<String, TlsError> {
    fs::read_to_string(path).map_err(|e| TlsError::io("reading", path, e))
}

/// All certificates in a PEM file, in file order; errors if there are none.
pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = read_to_string(path)?;
    parse_certs(path, &text)
}

/// All certificates in PEM text, in order; errors if there are none. `path` is for messages.
pub(crate) fn parse_certs(
    path: &Path,
    text: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut BufReader::new(text.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::pem(path, e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::pem(path, "no CERTIFICATE block found"));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, SEC1 or PKCS#1) in a PEM file.
pub(crate) fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = read_to_string(path)?;
    rustls_pemfile::private_key(&mut BufReader::new(text.as_bytes()))
        .map_err(|e| TlsError::pem(path, e.to_string()))?
        .ok_or_else(|| TlsError::pem(path, "no PRIVATE KEY block found"))
}

/// PEM-encode one DER certificate (64-column base64, trailing newline).
pub(crate) fn cert_to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Create `dir` (and parents) if missing; a directory we create is made 0700 since it
/// will hold the CA key.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), TlsError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| TlsError::io("creating directory", dir, e))?;
    set_mode(dir, 0o700)
}

/// Writes a secret (a private key, a token, a profile) to `path`: atomically and mode 0600
/// from the start, so no one else can read it even briefly and a crash leaves the old file or
/// the new one, never half of one. The one way wicket writes a secret file; the directory is
/// the caller's to make private.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), TlsError> {
    write_atomic(path, contents, KEY_MODE)
}

/// Write `contents` to `path` via a temporary file in the same directory and a rename,
/// so a crash never leaves a half-written key or certificate behind. The temporary file
/// is created 0600 by `tempfile` (a random name, so two writers never share one), so a key
/// is never readable by others even briefly; `mode` is set before the rename.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| TlsError::io("creating in", dir, e))?;
    tmp.write_all(contents)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| TlsError::io("writing", tmp.path(), e))?;
    set_mode(tmp.path(), mode)?;
    tmp.persist(path)
        .map_err(|e| TlsError::io("writing", path, e.error))?;
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| TlsError::io("setting permissions on", path, e))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), TlsError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_private_file_replaces_the_old_one_and_is_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Nothing else is left beside it.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // No directory to write in: an error, nothing written.
        let missing = dir.path().join("no/such/dir/secret");
        assert!(write_private(&missing, b"x").is_err());
    }
}

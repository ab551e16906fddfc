//! Real TLS handshakes over TCP on 127.0.0.1 between a server using a
//! [`ServerIdentity`] and clients built with [`client_config`].

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use wicket_tls::{client_config, Fingerprint, PinMismatch, ServerIdentity, Trust, UnknownCa};

fn sans() -> Vec<String> {
    ["localhost", "127.0.0.1", "::1", "wicket.test"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Serve one connection: echo back what the client sends, then close. Returns the
/// address; handshake failures just end the task.
async fn spawn_echo_server(identity: &ServerIdentity) -> Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let acceptor = TlsAcceptor::from(identity.server_config()?);
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut tls = acceptor.accept(tcp).await?;
        let mut buf = [0u8; 64];
        let n = tls.read(&mut buf).await?;
        tls.write_all(&buf[..n]).await?;
        tls.shutdown().await?;
        anyhow::Ok(())
    });
    Ok(addr)
}

/// Connect, send "ping", expect it echoed. Errors are the client-side handshake error.
async fn ping(addr: std::net::SocketAddr, trust: &Trust, name: &str) -> std::io::Result<()> {
    let connector = TlsConnector::from(client_config(trust).map_err(std::io::Error::other)?);
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_string()).map_err(std::io::Error::other)?;
    let mut tls = connector.connect(name, tcp).await?;
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(&b"http/1.1"[..]),
        "ALPN"
    );
    tls.write_all(b"ping").await?;
    let mut got = Vec::new();
    tls.read_to_end(&mut got).await?;
    assert_eq!(got, b"ping");
    Ok(())
}

#[cfg(unix)]
fn mode(path: &Path) -> Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

#[test]
fn load_or_create_is_stable_and_keys_are_private() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let first = ServerIdentity::load_or_create(dir.path(), &sans())?;
    let second = ServerIdentity::load_or_create(dir.path(), &sans())?;
    assert_eq!(first.ca_fingerprint, second.ca_fingerprint);
    assert_eq!(
        first.chain, second.chain,
        "server cert reused when still good"
    );
    assert_eq!(first.chain.len(), 2);
    assert_eq!(
        Fingerprint::of_der(first.chain.last().unwrap()),
        first.ca_fingerprint
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ca.pem"))?,
        first.ca_pem
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir.path().join("ca.key"))?, 0o600);
        assert_eq!(mode(&dir.path().join("server.key"))?, 0o600);
        assert_eq!(mode(&dir.path().join("ca.pem"))?, 0o644);
    }

    // A new SAN forces a new server certificate from the same CA.
    let mut more = sans();
    more.push("other.test".into());
    let third = ServerIdentity::load_or_create(dir.path(), &more)?;
    assert_eq!(third.ca_fingerprint, first.ca_fingerprint);
    assert_ne!(third.chain[0], first.chain[0]);
    assert_eq!(third.chain[1], first.chain[1]);
    Ok(())
}

#[test]
fn ca_without_key_is_an_error_not_a_new_ca() -> Result<()> {
    let dir = tempfile::tempdir()?;
    ServerIdentity::load_or_create(dir.path(), &sans())?;
    std::fs::remove_file(dir.path().join("ca.key"))?;
    let err = ServerIdentity::load_or_create(dir.path(), &sans()).unwrap_err();
    assert!(err.to_string().contains("ca.key is missing"), "{err}");
    Ok(())
}

#[test]
fn server_cert_from_another_ca_is_replaced() -> Result<()> {
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = ServerIdentity::load_or_create(dir_a.path(), &sans())?;
    ServerIdentity::load_or_create(dir_b.path(), &sans())?;
    for f in ["server.pem", "server.key"] {
        std::fs::copy(dir_b.path().join(f), dir_a.path().join(f))?;
    }
    let again = ServerIdentity::load_or_create(dir_a.path(), &sans())?;
    assert_eq!(again.ca_fingerprint, a.ca_fingerprint);
    assert_eq!(again.chain[1], a.chain[1]);
    let stored = std::fs::read_to_string(dir_a.path().join("server.pem"))?;
    assert!(stored.ends_with(&a.ca_pem), "server.pem is leaf + CA");
    Ok(())
}

#[test]
fn bad_sans_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let err = ServerIdentity::load_or_create(dir.path(), &["not a name".into()]).unwrap_err();
    assert!(err.to_string().contains("not a name"), "{err}");
    assert!(ServerIdentity::load_or_create(dir.path(), &[]).is_err());
}

#[tokio::test]
async fn pinned_client_handshakes_and_checks_names() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let identity = ServerIdentity::load_or_create(dir.path(), &sans())?;
    let trust = Trust::Pinned(identity.ca_fingerprint);

    for name in ["localhost", "127.0.0.1", "::1", "wicket.test"] {
        let addr = spawn_echo_server(&identity).await?;
        ping(addr, &trust, name).await?;
    }

    let addr = spawn_echo_server(&identity).await?;
    let err = ping(addr, &trust, "not-in-sans.test").await.unwrap_err();
    eprintln!("name mismatch error: {err}");
    assert!(err.to_string().contains("not valid for name"), "{err}");
    assert!(PinMismatch::find(&err).is_none());
    Ok(())
}

#[tokio::test]
async fn wrong_pin_is_refused_with_a_clear_error() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let identity = ServerIdentity::load_or_create(dir.path(), &sans())?;
    let wrong = Fingerprint([0x42; 32]);
    let addr = spawn_echo_server(&identity).await?;
    let err = ping(addr, &Trust::Pinned(wrong), "localhost")
        .await
        .unwrap_err();
    let msg = err.to_string();
    eprintln!("pin mismatch error: {msg}");
    assert!(
        msg.contains(&format!(
            "server certificate does not match the pinned CA fingerprint {wrong} (server offered "
        )),
        "{msg}"
    );
    assert!(msg.contains(&identity.ca_fingerprint.to_string()), "{msg}");
    let mismatch = PinMismatch::find(&err).expect("PinMismatch in the error chain");
    assert_eq!(mismatch.pinned, wrong);
    assert_eq!(mismatch.offered.len(), 2);
    Ok(())
}

/// A private CA reached through the OS store fails with `UnknownCa`, which names the CA the
/// server offered (what wicketd prints at start), not with webpki's bare `UnknownIssuer`.
#[tokio::test]
async fn system_trust_names_the_unknown_ca() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let identity = ServerIdentity::load_or_create(dir.path(), &sans())?;
    let addr = spawn_echo_server(&identity).await?;
    let err = ping(addr, &Trust::System, "localhost").await.unwrap_err();
    let unknown = UnknownCa::find(&err).expect("UnknownCa in the error chain");
    assert_eq!(unknown.top(), Some(identity.ca_fingerprint));
    assert!(!err.to_string().contains("UnknownIssuer"), "{err}");
    Ok(())
}

#[tokio::test]
async fn another_cas_server_is_refused() -> Result<()> {
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = ServerIdentity::load_or_create(dir_a.path(), &sans())?;
    let b = ServerIdentity::load_or_create(dir_b.path(), &sans())?;
    assert_ne!(a.ca_fingerprint, b.ca_fingerprint);
    let addr = spawn_echo_server(&b).await?;
    let err = ping(addr, &Trust::Pinned(a.ca_fingerprint), "localhost")
        .await
        .unwrap_err();
    assert!(PinMismatch::find(&err).is_some(), "{err}");
    Ok(())
}

#[tokio::test]
async fn pem_files_and_leaf_pinning() -> Result<()> {
    // An operator-style self-signed certificate: chain of one, pinned directly.
    let dir = tempfile::tempdir()?;
    let generated = ServerIdentity::load_or_create(dir.path(), &sans())?;
    let leaf_pem = std::fs::read_to_string(dir.path().join("server.pem"))?;
    let leaf_only = leaf_pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .next()
        .unwrap();
    let cert_path = dir.path().join("leaf-only.pem");
    std::fs::write(&cert_path, leaf_only)?;
    let identity = ServerIdentity::from_pem_files(&cert_path, &dir.path().join("server.key"))?;
    assert_eq!(identity.chain, generated.chain[..1]);
    assert_eq!(
        identity.ca_fingerprint,
        Fingerprint::of_der(&generated.chain[0])
    );
    assert!(identity.ca_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));

    // Pinning the leaf itself accepts it as is, even for a name it does not carry.
    let addr = spawn_echo_server(&identity).await?;
    ping(
        addr,
        &Trust::Pinned(identity.ca_fingerprint),
        "unlisted.test",
    )
    .await?;

    // Full chain file: the CA (last) is what gets pinned.
    let full = ServerIdentity::from_pem_files(
        &dir.path().join("server.pem"),
        &dir.path().join("server.key"),
    )?;
    assert_eq!(full.ca_fingerprint, generated.ca_fingerprint);
    assert_eq!(full.ca_pem, generated.ca_pem);

    // Mismatched key and certificate fail up front.
    let err = ServerIdentity::from_pem_files(&cert_path, &dir.path().join("ca.key")).unwrap_err();
    assert!(err.to_string().contains("cannot be used with"), "{err}");
    Ok(())
}

#[test]
fn install_crypto_provider_is_idempotent() {
    wicket_tls::install_crypto_provider();
    wicket_tls::install_crypto_provider();
    assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    // Built without relying on the default, but must still work alongside it.
    let config: Arc<rustls::ClientConfig> =
        client_config(&Trust::Pinned(Fingerprint([1; 32]))).unwrap();
    assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
}

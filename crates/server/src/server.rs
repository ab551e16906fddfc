//! Binding the port, TLS, serving HTTP/1.1 with upgrades, and shutting down cleanly.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower::ServiceExt;
use wicket_store::Store;
use wicket_tls::{Fingerprint, ServerIdentity};

use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::state::AppState;

/// How long a connection may take to send a request's headers, and stay idle between
/// requests. WebSocket links, once upgraded, have their own heartbeat instead.
const HEADER_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a stopping server waits for its sessions to write their ends (their recordings'
/// last chunks, the history, the audit chain) before it closes the links anyway.
const SESSIONS_END_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client may take over the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound, ready server. [`Server::run`] serves until the shutdown future resolves.
pub struct Server {
    state: AppState,
    listener: TcpListener,
    tls: Arc<rustls_config::ServerConfig>,
}

mod rustls_config {
    pub use tokio_rustls::rustls::ServerConfig;
}

impl Server {
    /// Opens the store (running migrations), loads or creates the TLS identity and binds.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        private_dir(&config.data_dir)?;
        let identity = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => ServerIdentity::from_pem_files(cert, key)?,
            (None, None) => {
                let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
                if let Ok(h) = crate::replicas::hostname() {
                    names.push(h);
                }
                names.extend(config.tls_names.iter().cloned());
                ServerIdentity::load_or_create(&config.data_dir.join("tls"), &names)?
            }
            _ => {
                return Err(ServerError::Config(
                    "tls_cert and tls_key must be set together".into(),
                ))
            }
        };
        let key_path = config.audit_key_path();
        let key_existed = key_path.exists();
        let store = Store::open(&config.effective_database_url()).await?;
        store.check_audit_head().await?;
        let tls = identity.server_config()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| ServerError::Config(format!("cannot listen on {}: {e}", config.listen)))?;
        let policies = load_policies(&store).await?;
        let recordings = crate::recordings::open_store(&config)?;
        let key = crate::audit::load_or_create_key(&key_path)?;
        crate::audit::claim_chain(&store, &key, &key_path, key_existed).await?;
        let audit =
            crate::audit::AuditLog::start(store.clone(), key, config.audit.sink.as_deref())?;
        let sso = match &config.oidc {
            Some(oidc) => Some(crate::oidc::Sso::new(oidc.clone()).map_err(ServerError::Config)?),
            None => None,
        };
        let state = AppState::new(
            store,
            config,
            identity.ca_fingerprint,
            policies,
            recordings,
            audit,
            sso,
        );
        crate::replicas::register(&state).await?;
        Ok(Server {
            state,
            listener,
            tls,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        Ok(self.listener.local_addr()?)
    }

    pub fn ca_fingerprint(&self) -> Fingerprint {
        self.state.ca_fingerprint()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then closes every agent link so agents reconnect to
    /// the next server promptly.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let app = crate::routes::router(self.state.clone());
        let housekeeping = tokio::spawn(housekeeping(self.state.clone()));
        let retention = tokio::spawn(crate::recordings::retention(self.state.clone()));
        let audit = &self.state.config().audit;
        let shipper = (audit.segment_size > 0).then(|| {
            tokio::spawn(crate::segments::shipper(
                self.state.clone(),
                audit.segment_size,
                audit.checkpoint_interval,
            ))
        });
        let checkpoints = tokio::spawn(crate::audit::checkpoints(
            self.state.audit().clone(),
            self.state.config().audit.checkpoint_interval,
        ));
        let acceptor = tokio_rustls::TlsAcceptor::from(self.tls);
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(v) => v,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
                let service =
                    hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                        req.extensions_mut()
                            .insert(axum::extract::ConnectInfo(peer));
                        app.clone().oneshot(req)
                    });
                // HTTP/1.1 only; a client that does not finish its request's headers within
                // HEADER_TIMEOUT, or leaves a kept-alive connection idle that long, is cut off
                // (hyper's timer runs from the moment it waits for a request head).
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(tls), service)
                    .with_upgrades();
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
        tracing::info!("shutting down");
        housekeeping.abort();
        retention.abort();
        if let Some(s) = shipper {
            s.abort();
        }
        checkpoints.abort();
        // Sessions end first, each telling its user why and writing its end to the history
        // and the audit chain; then the links close, users' with the same reason.
        let ending = crate::sessions::Ending::shutdown();
        let live = self.state.sessions().end_all_because(ending.clone());
        if live > 0 {
            tracing::info!(sessions = live, "ending live sessions");
        }
        let finished = self.state.sessions().all_finished();
        if tokio::time::timeout(SESSIONS_END_TIMEOUT, finished)
            .await
            .is_err()
        {
            tracing::warn!("some sessions did not finish writing their end in time");
        }
        self.state.close_links();
        self.state.agents().close_all(&ending.reason);
        // Give the close frames a moment to leave, and the disconnects to be recorded.
        tokio::time::sleep(Duration::from_millis(100)).await;
        crate::replicas::retire(&self.state).await;
        // Sign the head on the way out, so a clean stop leaves no unsigned tail.
        self.state.audit().flush().await;
        if let Err(e) = self.state.audit().checkpoint().await {
            tracing::error!(error = %e, "final audit checkpoint failed");
        }
        Ok(())
    }
}

/// The stored policy set, or the built-in defaults when none was ever set. A stored set that
/// no longer validates (after an upgrade changed the schema) stops the server rather than
/// silently falling back to something else.
async fn load_policies(store: &Store) -> Result<(i64, Arc<wicket_policy::PolicySet>), ServerError> {
    match store.active_policy().await? {
        Some(p) => match wicket_policy::PolicySet::parse(&p.text) {
            Ok(set) => Ok((p.version, Arc::new(set))),
            Err(e) => Err(ServerError::Config(format!(
                "the stored policy set (version {}) does not validate: {e}",
                p.version
            ))),
        },
        None => Ok((0, crate::authz::default_policies())),
    }
}

/// Every second: end live sessions another replica was asked to terminate. Every third of
/// the replica timeout: mark this replica alive and end dead replicas' sessions. Every five
/// seconds: pick up a policy set another replica activated, and re-check live sessions
/// (covering users, tokens and groups changed through another replica).
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let replicas = crate::replicas::every(state.config().replica_timeout);
    for n in 0u64.. {
        tick.tick().await;
        if !state.sessions().is_empty() {
            crate::broker::end_requested(&state).await;
        }
        if n % replicas == 0 {
            crate::replicas::tick(&state).await;
        }
        if n % 5 != 0 {
            continue;
        }
        if let Ok(Some(p)) = state.store().active_policy().await {
            if p.version > state.policy_version() {
                match wicket_policy::PolicySet::parse(&p.text) {
                    Ok(set) => state.set_policies(p.version, Arc::new(set)),
                    Err(e) => {
                        tracing::error!(version = p.version, error = %e, "stored policy set does not validate; keeping the active one")
                    }
                }
            }
        }
        if !state.sessions().is_empty() {
            crate::broker::recheck(&state).await;
        }
    }
}

/// Creates a data directory, or takes an existing one, private to this user (mode 0700): it
/// holds the database (password hashes, TOTP secrets), keys and recordings (or, under `wicketd
/// dev`, an agent's key and log), which no other local user may read.
pub fn private_dir(dir: &std::path::Path) -> Result<(), ServerError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let failed = |e: std::io::Error| ServerError::Config(format!("{}: {e}", dir.display()));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(failed)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(failed)
}

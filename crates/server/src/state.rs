//! What every handler shares.

use std::sync::{Arc, RwLock};

use wicket_policy::PolicySet;
use wicket_recording::RecordingStore;
use wicket_store::Store;
use wicket_tls::Fingerprint;

use crate::audit::AuditLog;
use crate::config::ServerConfig;
use crate::oidc::Sso;
use crate::registry::AgentRegistry;
use crate::sessions::SessionRegistry;

/// Cheap to clone: everything is behind one `Arc`.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: ServerConfig,
    agents: AgentRegistry,
    sessions: SessionRegistry,
    recordings: RecordingStore,
    ca_fingerprint: Fingerprint,
    /// The active policy set and its version (0: the built-in defaults). Swapped whole, so a
    /// request sees one consistent set.
    policies: RwLock<(i64, Arc<PolicySet>)>,
    /// The one audit writer of this process.
    audit: AuditLog,
    /// Single sign-on, when `[oidc]` is configured.
    sso: Option<Sso>,
    /// This process's replica id: sessions' rows name it (see `wicket_store` replicas).
    replica: String,
    /// Set when the server stops: every user's link closes, telling its client why.
    closing: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    pub fn new(
        store: Store,
        config: ServerConfig,
        ca_fingerprint: Fingerprint,
        policies: (i64, Arc<PolicySet>),
        recordings: RecordingStore,
        audit: AuditLog,
        sso: Option<Sso>,
    ) -> Self {
        AppState {
            inner: Arc::new(Inner {
                store,
                agents: AgentRegistry::new(config.max_user_channels_per_agent),
                config,
                sessions: SessionRegistry::default(),
                recordings,
                ca_fingerprint,
                policies: RwLock::new(policies),
                audit,
                sso,
                replica: format!("rep_{}", hex::encode(crate::secrets::random_bytes::<8>())),
                closing: tokio::sync::watch::Sender::new(false),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// This process's replica id.
    pub fn replica(&self) -> &str {
        &self.inner.replica
    }

    pub fn audit(&self) -> &AuditLog {
        &self.inner.audit
    }

    pub fn agents(&self) -> &AgentRegistry {
        &self.inner.agents
    }

    pub fn sessions(&self) -> &SessionRegistry {
        &self.inner.sessions
    }

    /// Where session recordings are kept.
    pub fn recordings(&self) -> &RecordingStore {
        &self.inner.recordings
    }

    /// Resolves once the server is stopping (see [`AppState::close_links`]).
    pub async fn closing(&self) {
        let _ = self.inner.closing.subscribe().wait_for(|c| *c).await;
    }

    /// Tells every user's link that the server is stopping: each closes with `SHUTDOWN`.
    pub fn close_links(&self) {
        self.inner.closing.send_replace(true);
    }

    pub fn sso(&self) -> Option<&Sso> {
        self.inner.sso.as_ref()
    }

    pub fn ca_fingerprint(&self) -> Fingerprint {
        self.inner.ca_fingerprint
    }

    /// The policy set in force.
    pub fn policies(&self) -> Arc<PolicySet> {
        self.read_policies().1.clone()
    }

    pub fn policy_version(&self) -> i64 {
        self.read_policies().0
    }

    /// Installs a new active set (already validated and stored).
    pub fn set_policies(&self, version: i64, set: Arc<PolicySet>) {
        let mut p = self
            .inner
            .policies
            .write()
            .unwrap_or_else(|e| e.into_inner());
        *p = (version, set);
    }

    fn read_policies(&self) -> std::sync::RwLockReadGuard<'_, (i64, Arc<PolicySet>)> {
        self.inner
            .policies
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }
}

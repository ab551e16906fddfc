//! What every handler shares.

use std::sync::Arc;

use wicket_store::Store;
use wicket_tls::Fingerprint;

use crate::config::ServerConfig;
use crate::registry::AgentRegistry;

/// Cheap to clone: everything is behind one `Arc`.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: ServerConfig,
    agents: AgentRegistry,
    ca_fingerprint: Fingerprint,
}

impl AppState {
    pub fn new(store: Store, config: ServerConfig, ca_fingerprint: Fingerprint) -> Self {
        AppState {
            inner: Arc::new(Inner {
                store,
                config,
                agents: AgentRegistry::default(),
                ca_fingerprint,
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    pub fn agents(&self) -> &AgentRegistry {
        &self.inner.agents
    }

    pub fn ca_fingerprint(&self) -> Fingerprint {
        self.inner.ca_fingerprint
    }
}

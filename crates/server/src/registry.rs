//! The agents connected to this server process right now.
//!
//! "Online" means present here. With several replicas each knows only its own agents; routing a
//! session to another replica's agent is future work (see docs/ARCHITECTURE.md).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use wicket_mux::Mux;
use wicket_proto::ErrorCode;

/// One live agent link.
#[derive(Clone)]
pub struct AgentConn {
    pub mux: Mux,
    /// Distinguishes this link from a later one of the same agent.
    pub conn_id: u64,
    pub connected_at: i64,
    /// The protocol version agreed with this agent: a `tcp` channel needs 2.
    pub version: u16,
    /// The user the agent runs as (from its inventory; empty if it did not say): who a
    /// session runs as when no one is named.
    pub user: String,
}

#[derive(Default)]
pub struct AgentRegistry {
    links: RwLock<HashMap<String, AgentConn>>,
    next_conn: AtomicU64,
}

impl AgentRegistry {
    /// Records a new link for `target_id`, replacing (and closing) an older one: an agent that
    /// reconnects before the server noticed the old link die must not be refused.
    pub fn insert(&self, target_id: &str, mux: Mux, version: u16, user: &str, now: i64) -> u64 {
        let conn_id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let old = self.write().insert(
            target_id.to_string(),
            AgentConn {
                mux,
                conn_id,
                connected_at: now,
                version,
                user: user.to_owned(),
            },
        );
        if let Some(old) = old {
            old.mux.close(
                ErrorCode::Shutdown,
                "replaced by a newer link from the same agent",
            );
        }
        conn_id
    }

    /// Removes the link if it is still `conn_id` (a newer one may have replaced it).
    pub fn remove(&self, target_id: &str, conn_id: u64) -> bool {
        let mut links = self.write();
        if links.get(target_id).map(|c| c.conn_id) == Some(conn_id) {
            links.remove(target_id);
            true
        } else {
            false
        }
    }

    pub fn get(&self, target_id: &str) -> Option<AgentConn> {
        self.read().get(target_id).cloned()
    }

    pub fn is_online(&self, target_id: &str) -> bool {
        self.read().contains_key(target_id)
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes every link, telling agents why; used at shutdown.
    pub fn close_all(&self, reason: &str) {
        for (_, c) in self.write().drain() {
            c.mux.close(ErrorCode::Shutdown, reason);
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, AgentConn>> {
        self.links.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, AgentConn>> {
        self.links.write().unwrap_or_else(|e| e.into_inner())
    }
}

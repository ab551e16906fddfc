//! The agents connected to this server process right now.
//!
//! "Online" means present here. With several replicas each knows only its own agents; routing a
//! session to another replica's agent is future work (see docs/ARCHITECTURE.md).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use wicket_mux::{Channel, Mux, MuxError};
use wicket_proto::{ErrorCode, OpenSpec};

use crate::quota::ChannelQuota;

/// One live agent link.
#[derive(Clone)]
pub struct AgentConn {
    /// Private: channels are opened only through [`AgentConn::open`], within the user's share.
    mux: Mux,
    /// Distinguishes this link from a later one of the same agent.
    pub conn_id: u64,
    pub connected_at: i64,
    /// The protocol version agreed with this agent: a `tcp` channel needs 2.
    pub version: u16,
    /// The user the agent runs as (from its inventory; empty if it did not say): who a
    /// session runs as when no one is named.
    pub user: String,
    /// Each user's share of this link's channels.
    pub quota: Arc<ChannelQuota>,
}

impl AgentConn {
    /// Opens a channel on this agent's link for the user `user_id`, within their share of the
    /// link's channels; `target` names the agent in the refusal. Every session, forward and
    /// copy is opened here, so the share counts them all. A user over their share is refused
    /// before the agent is asked, as the agent itself refuses an open: `MuxError::Rejected`
    /// with `TOO_MANY_CHANNELS`.
    pub async fn open(
        &self,
        user_id: &str,
        target: &str,
        spec: OpenSpec,
    ) -> Result<Channel, MuxError> {
        let slot = self
            .quota
            .take(user_id)
            .map_err(|over| MuxError::Rejected {
                code: ErrorCode::TooManyChannels,
                reason: format!(
                    "you already have {} channels open to {target} (the limit per user is {})",
                    over.held, over.limit
                ),
            })?;
        self.mux.open_holding(spec, slot).await
    }

    /// Watches the link closely while the guard lives (see [`Mux::watch_closely`]).
    pub fn watch_closely(&self) -> wicket_mux::Watching {
        self.mux.watch_closely()
    }

    /// Closes the link, telling the agent why.
    pub fn close(&self, code: ErrorCode, reason: &str) {
        self.mux.close(code, reason);
    }
}

pub struct AgentRegistry {
    links: RwLock<HashMap<String, AgentConn>>,
    next_conn: AtomicU64,
    /// Channels one user may hold on one agent link.
    user_channels: usize,
}

impl AgentRegistry {
    /// An empty registry whose links each give a user at most `user_channels` channels.
    pub fn new(user_channels: usize) -> Self {
        AgentRegistry {
            links: RwLock::default(),
            next_conn: AtomicU64::new(0),
            user_channels,
        }
    }

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
                quota: ChannelQuota::new(self.user_channels),
            },
        );
        if let Some(old) = old {
            old.close(
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
            c.close(ErrorCode::Shutdown, reason);
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, AgentConn>> {
        self.links.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, AgentConn>> {
        self.links.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wicket_mux::{mem_pair, MuxConfig, Role};
    use wicket_proto::SessionSpec;

    /// An agent link whose far end accepts every channel and keeps it until it closes.
    fn agent(registry: &AgentRegistry) -> AgentConn {
        let (a, b) = mem_pair();
        let (agent, mut incoming) = Mux::start(b, Role::Dialer, MuxConfig::default());
        tokio::spawn(async move {
            let _agent = agent;
            while let Some(ch) = incoming.recv().await {
                let (_tx, mut rx) = ch.accept().expect("accept").split();
                tokio::spawn(async move { while rx.recv().await.is_some() {} });
            }
        });
        let (server, _) = Mux::start(a, Role::Acceptor, MuxConfig::default());
        registry.insert("tgt_1", server, 4, "root", 0);
        registry.get("tgt_1").expect("registered")
    }

    fn session() -> OpenSpec {
        OpenSpec::Session(SessionSpec::default())
    }

    #[tokio::test]
    async fn a_user_over_their_share_is_refused_and_others_are_not() {
        let registry = AgentRegistry::new(2);
        let link = agent(&registry);
        let mine = [
            link.open("usr_a", "web-1", session()).await.unwrap(),
            link.open("usr_a", "web-1", session()).await.unwrap(),
        ];
        let refused = link.open("usr_a", "web-1", session()).await.err().unwrap();
        assert_eq!(
            refused,
            MuxError::Rejected {
                code: ErrorCode::TooManyChannels,
                reason: "you already have 2 channels open to web-1 (the limit per user is 2)"
                    .into()
            }
        );
        let _theirs = link.open("usr_b", "web-1", session()).await.unwrap();
        // The share comes back once a channel has left the table (both sides closed it).
        drop(mine);
        let mut back = false;
        for _ in 0..100 {
            if link.quota.held("usr_a") == 0 {
                back = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(back, "the share was not given back");
        assert!(link.open("usr_a", "web-1", session()).await.is_ok());
    }
}

//! Each user's share of an agent link's channels.
//!
//! An agent's link has one table of channels (1,024 on the agent's side) for every user who
//! reaches that target. Without a share per user, one user's forwards (1,100 `OPEN`s in about a
//! second) filled it, and everyone else's connects to that target failed until his link closed.
//! A user may hold at most [`ChannelQuota::limit`] channels on one agent link: sessions,
//! forwards and copies alike, counted from the moment the server asks the agent to open one
//! until the channel leaves the link's table (`wicket_mux::Mux::open_holding` keeps the
//! [`QuotaSlot`] that long), whichever way it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The channels each user holds on one agent link.
#[derive(Debug)]
pub struct ChannelQuota {
    /// Channels one user may hold on this link.
    limit: usize,
    /// Channels held per user id; users holding none are not listed.
    held: Mutex<HashMap<String, usize>>,
}

/// A user asked for more than their share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverQuota {
    /// Channels the user holds on the link now.
    pub held: usize,
    pub limit: usize,
}

impl ChannelQuota {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(ChannelQuota {
            limit,
            held: Mutex::new(HashMap::new()),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Takes one channel of `user_id`'s share, or says how many they hold already.
    pub fn take(self: &Arc<Self>, user_id: &str) -> Result<QuotaSlot, OverQuota> {
        let mut held = self.lock();
        let n = held.entry(user_id.to_string()).or_insert(0);
        if *n >= self.limit {
            return Err(OverQuota {
                held: *n,
                limit: self.limit,
            });
        }
        *n += 1;
        Ok(QuotaSlot {
            quota: self.clone(),
            user_id: user_id.to_string(),
        })
    }

    /// Channels `user_id` holds on this link now.
    pub fn held(&self, user_id: &str) -> usize {
        self.lock().get(user_id).copied().unwrap_or(0)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        // The map stays consistent whatever panicked while holding it.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One channel of a user's share; dropping it gives the channel back.
#[derive(Debug)]
pub struct QuotaSlot {
    quota: Arc<ChannelQuota>,
    user_id: String,
}

impl Drop for QuotaSlot {
    fn drop(&mut self) {
        let mut held = self.quota.lock();
        if let Some(n) = held.get_mut(&self.user_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_the_limit_and_no_more_and_others_are_not_affected() {
        let q = ChannelQuota::new(3);
        let mine: Vec<_> = (0..3).map(|_| q.take("usr_a").unwrap()).collect();
        assert_eq!(
            q.take("usr_a").unwrap_err(),
            OverQuota { held: 3, limit: 3 }
        );
        let theirs = q.take("usr_b").unwrap();
        assert_eq!((q.held("usr_a"), q.held("usr_b")), (3, 1));
        drop(mine);
        drop(theirs);
        assert_eq!((q.held("usr_a"), q.held("usr_b")), (0, 0));
        assert!(q.lock().is_empty(), "users holding nothing are forgotten");
        assert!(q.take("usr_a").is_ok());
    }
}

//! Live sessions and forwarded connections, so that taking access away ends them at once.
//!
//! Each brokered session registers who opened it, with which token, on what, and how. Whenever
//! something that could take access away happens (a user disabled or deleted, a token revoked,
//! a group membership changed, a new policy set) [`crate::broker::recheck`] authenticates and
//! authorizes every live session again and ends those no longer allowed, telling the user why.
//! A periodic recheck covers changes made by another replica.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::{broadcast, watch};
use wicket_recording::recorder::RecorderHandle;

use wicket_policy::Action;
use wicket_proto::ErrorCode;

/// Why the server ends a live session, as its user is told and its history records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ending {
    pub code: ErrorCode,
    pub reason: String,
}

impl Ending {
    /// Access was taken away: "access revoked: " and why.
    pub fn revoked(why: &str) -> Ending {
        Ending {
            code: ErrorCode::Forbidden,
            reason: format!("access revoked: {why}"),
        }
    }

    /// The login the session runs on expired and was not renewed.
    pub fn login_expired() -> Ending {
        Ending {
            code: ErrorCode::Unauthorized,
            reason: "your login expired: run `wicket login` and connect again".into(),
        }
    }

    /// This wicketd is stopping.
    pub fn shutdown() -> Ending {
        Ending {
            code: ErrorCode::Shutdown,
            reason: "wicketd is shutting down".into(),
        }
    }
}

/// What a live session was allowed as.
#[derive(Clone, Debug)]
pub struct LiveSession {
    pub id: String,
    pub user_id: String,
    pub token_id: String,
    pub target_id: String,
    pub action: Action,
    pub run_as: Option<String>,
    pub source_ip: Option<IpAddr>,
    /// For a forward: the destination it was allowed to, rechecked like everything else.
    pub dest: Option<(String, u16)>,
}

struct Entry {
    session: LiveSession,
    /// Set to the reason when the session must end.
    end: watch::Sender<Option<Ending>>,
    /// The session's output, for `wicket watch`.
    output: broadcast::Sender<Bytes>,
    /// The session's recorder, if it is recorded: a watcher joining asks it to store what it
    /// holds, and draws the screen from the store (`crate::screen`).
    recorder: Option<RecorderHandle>,
}

/// Frames of output a watcher may fall behind by before it skips ahead (and is told so).
const WATCH_BACKLOG: usize = 256;

#[derive(Default)]
pub struct SessionRegistry {
    live: Mutex<HashMap<String, Entry>>,
    /// Sessions brokered here that have not yet written their end (history and audit): a
    /// stopping server waits for them.
    finishing: watch::Sender<usize>,
}

/// Held by a brokered session from its start until its end is on record.
pub struct Finishing<'a> {
    registry: &'a SessionRegistry,
}

impl Drop for Finishing<'_> {
    fn drop(&mut self) {
        self.registry
            .finishing
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Held by the relay: resolves when the session must end, and unregisters on drop.
pub struct SessionGuard<'a> {
    registry: &'a SessionRegistry,
    id: String,
    pub ended: watch::Receiver<Option<Ending>>,
    /// Where the relay publishes output for watchers (sending with none listening is free).
    pub output: broadcast::Sender<Bytes>,
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl SessionRegistry {
    pub fn register(&self, session: LiveSession) -> SessionGuard<'_> {
        self.register_recorded(session, None)
    }

    /// [`Self::register`] for a session with a recorder, which watchers joining use.
    pub fn register_recorded(
        &self,
        session: LiveSession,
        recorder: Option<RecorderHandle>,
    ) -> SessionGuard<'_> {
        let (end, ended) = watch::channel(None);
        let (output, _) = broadcast::channel(WATCH_BACKLOG);
        let id = session.id.clone();
        let entry = Entry {
            session,
            end,
            output: output.clone(),
            recorder,
        };
        self.lock().insert(id.clone(), entry);
        SessionGuard {
            registry: self,
            id,
            ended,
            output,
        }
    }

    /// Registers access that is not a relayed channel (a watcher), for an owner that cannot
    /// hold a [`SessionGuard`]; it must call [`Self::remove`] when done.
    pub fn register_detached(&self, session: LiveSession) -> watch::Receiver<Option<Ending>> {
        let (end, ended) = watch::channel(None);
        let (output, _) = broadcast::channel(1);
        let id = session.id.clone();
        let entry = Entry {
            session,
            end,
            output,
            recorder: None,
        };
        self.lock().insert(id, entry);
        ended
    }

    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Whether session `id` is live on this server.
    pub fn contains(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    /// The live session `id`, if it runs here.
    pub fn get(&self, id: &str) -> Option<LiveSession> {
        self.lock().get(id).map(|e| e.session.clone())
    }

    /// Ends session `id` now, telling its user access was revoked and `reason`. False if it
    /// is not live here.
    pub fn end(&self, id: &str, reason: &str) -> bool {
        self.end_because(id, Ending::revoked(reason))
    }

    /// Ends session `id` now, telling its user why. False if it is not live here.
    pub fn end_because(&self, id: &str, ending: Ending) -> bool {
        match self.lock().get(id) {
            Some(e) => e.end.send(Some(ending)).is_ok(),
            None => false,
        }
    }

    /// Ends every live session here, telling each user access was revoked and `reason`;
    /// returns how many.
    pub fn end_all(&self, reason: &str) -> usize {
        self.end_all_because(Ending::revoked(reason))
    }

    /// Ends every live session here, telling each user why; returns how many.
    pub fn end_all_because(&self, ending: Ending) -> usize {
        let live = self.lock();
        for e in live.values() {
            let _ = e.end.send(Some(ending.clone()));
        }
        live.len()
    }

    /// The recorder of live session `id`, if it runs here and is recorded.
    pub fn recorder(&self, id: &str) -> Option<RecorderHandle> {
        self.lock().get(id).and_then(|e| e.recorder.clone())
    }

    /// Carries every live session running on token `from` over to token `to` (the same user
    /// logged in again and the client sent the new token): from now on they are re-checked
    /// against `to`, and live as long as it does. Returns how many.
    pub fn rebind_token(&self, from: &str, to: &str) -> usize {
        let mut n = 0;
        for e in self.lock().values_mut() {
            if e.session.token_id == from {
                e.session.token_id = to.to_owned();
                n += 1;
            }
        }
        n
    }

    /// Ends every live session here running on token `token_id`, telling each user why;
    /// returns how many.
    pub fn end_token(&self, token_id: &str, ending: Ending) -> usize {
        let live = self.lock();
        let mut n = 0;
        for e in live.values().filter(|e| e.session.token_id == token_id) {
            let _ = e.end.send(Some(ending.clone()));
            n += 1;
        }
        n
    }

    /// Whether a live session here runs on token `token_id`.
    pub fn uses_token(&self, token_id: &str) -> bool {
        self.lock().values().any(|e| e.session.token_id == token_id)
    }

    /// How many live sessions here run on token `token_id`.
    pub fn count_token(&self, token_id: &str) -> usize {
        self.lock()
            .values()
            .filter(|e| e.session.token_id == token_id)
            .count()
    }

    /// Counts a brokered session until its end is on record (see [`Self::all_finished`]).
    pub fn finishing(&self) -> Finishing<'_> {
        self.finishing.send_modify(|n| *n += 1);
        Finishing { registry: self }
    }

    /// Resolves once every brokered session has written its end.
    pub async fn all_finished(&self) {
        let _ = self.finishing.subscribe().wait_for(|n| *n == 0).await;
    }

    /// Follows the output of live session `id` from now on.
    pub fn subscribe(&self, id: &str) -> Option<broadcast::Receiver<Bytes>> {
        self.lock().get(id).map(|e| e.output.subscribe())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What is live here now.
    pub fn live(&self) -> Vec<LiveSession> {
        self.lock().values().map(|e| e.session.clone()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

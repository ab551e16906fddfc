//! This process as one replica among the wicketd processes on a database. It marks itself
//! alive every third of `replica_timeout`; at the same pace it ends, in the session history,
//! the sessions of replicas that stopped marking themselves (killed, crashed, cut off), which
//! nothing else would end, and records each end in the audit chain. See docs/ARCHITECTURE.md.

use std::time::Duration;

use wicket_audit::Outcome;

use crate::error::ServerError;
use crate::now_ms;
use crate::state::AppState;

/// The end reason written for a dead replica's sessions.
pub const ORPHANED: &str = "its wicketd stopped (no sign of life from the replica relaying it)";

/// What the users of a replica that was taken for dead are told when it comes back.
pub const STALLED: &str = "this wicketd stalled for longer than replica_timeout and was taken \
                           for dead, which ended its sessions; connect again";

/// Registers this process; called once before it serves.
pub async fn register(state: &AppState) -> Result<(), ServerError> {
    let name = hostname().unwrap_or_default();
    state
        .store()
        .register_replica(state.replica(), &name, now_ms())
        .await?;
    Ok(())
}

/// How many housekeeping ticks (seconds) between two marks and sweeps.
pub fn every(timeout: Duration) -> u64 {
    (timeout.as_secs() / 3).max(1)
}

/// Marks this replica alive, then ends the sessions of dead ones.
pub async fn tick(state: &AppState) {
    let store = state.store();
    let now = now_ms();
    match store.replica_seen(state.replica(), now).await {
        // Another replica took this one for dead (a long stall) and ended its sessions in
        // the history and the audit chain: end them here too, so that nothing keeps running
        // that the record says has stopped, then come back.
        Ok(false) => {
            let ended = state.sessions().end_all(STALLED);
            tracing::warn!(
                replica = state.replica(),
                sessions = ended,
                "this replica was taken for dead; ended its sessions and registering again"
            );
            if let Err(e) = register(state).await {
                tracing::warn!(error = %e, "could not register the replica again");
            }
        }
        Ok(true) => {}
        Err(e) => {
            tracing::warn!(error = %e, "could not mark this replica alive");
            return;
        }
    }
    let timeout = i64::try_from(state.config().replica_timeout.as_millis()).unwrap_or(i64::MAX);
    let ended = match store
        .end_orphaned_sessions(now.saturating_sub(timeout), now, ORPHANED)
        .await
    {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "could not end the sessions of dead replicas");
            return;
        }
    };
    for s in ended {
        tracing::info!(session = %s.id, replica = s.replica.as_deref().unwrap_or("-"), "ended the session of a dead replica");
        state
            .audit()
            .record(crate::audit::event(
                "-",
                None,
                "session.end",
                &format!("target:{}", s.target_name),
                Outcome::Failure,
                serde_json::json!({
                    "session_id": s.id,
                    "user": s.user_name,
                    "replica": s.replica,
                    "reason": ORPHANED,
                }),
            ))
            .await;
    }
}

/// Leaves the set of replicas on a graceful stop. Sessions it still relayed and could not end
/// in time are ended by the others' next sweep (their replica is gone).
pub async fn retire(state: &AppState) {
    if let Err(e) = state.store().retire_replica(state.replica()).await {
        tracing::warn!(error = %e, "could not retire this replica");
    }
}

/// This machine's name, as the kernel has it.
pub(crate) fn hostname() -> Result<String, std::io::Error> {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname")?;
    Ok(h.trim().to_string())
}

//! Which wicketd processes are alive. A live session exists only in the memory of the replica
//! relaying it; when that process dies, nothing ends the session's row. Each replica registers
//! here and keeps its row fresh; any replica that finds another's row stale ends the dead
//! one's sessions in the history, so `wicket sessions --active` shows no ghosts.

use sqlx::Row;

use crate::sessions::{from_row, COLUMNS};
use crate::{Millis, SessionRecord, Store, StoreError};

impl Store {
    /// Records replica `id` (named `name`, a host name) as alive at `now`.
    pub async fn register_replica(
        &self,
        id: &str,
        name: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO replicas (id, name, started_at, seen_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(id)
        .bind(name)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Marks replica `id` alive at `now`. False when its row was gone (another replica took it
    /// for dead and ended its sessions' rows): the caller registers again.
    pub async fn replica_seen(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE replicas SET seen_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Removes replica `id` (a graceful stop, after its sessions ended).
    pub async fn retire_replica(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM replicas WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends, with `reason` at `now`, every live session whose replica has not been seen since
    /// `stale_before` or is gone (it stopped before its sessions' rows were completed), forgets
    /// stale replicas, and returns the sessions ended. Two replicas sweeping at once end each
    /// session once: the update only takes rows still live.
    pub async fn end_orphaned_sessions(
        &self,
        stale_before: Millis,
        now: Millis,
        reason: &str,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "UPDATE sessions SET ended_at = $1, end_reason = $2 \
             WHERE ended_at IS NULL \
             AND replica IS NOT NULL \
             AND replica NOT IN (SELECT id FROM replicas WHERE seen_at >= $3) \
             RETURNING {COLUMNS}"
        ))
        .bind(now)
        .bind(reason)
        .bind(stale_before)
        .fetch_all(self.pool())
        .await?;
        sqlx::query("DELETE FROM replicas WHERE seen_at < $1")
            .bind(stale_before)
            .execute(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// How many replicas are registered (for tests and `readyz`-style checks).
    pub async fn replica_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM replicas")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }
}

//! The history of sessions: one row per brokered session, written when it opens and completed
//! when it ends. Live state (who may still use it) is the server's; this is what was.

use sqlx::Row;

use crate::{Millis, Store, StoreError};

/// A session as listed by `wicket sessions`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: String,
    pub user_name: String,
    pub target_id: String,
    pub target_name: String,
    pub action: String,
    pub run_as: Option<String>,
    pub command: Option<String>,
    pub tty: bool,
    pub source_ip: Option<String>,
    pub started_at: Millis,
    pub ended_at: Option<Millis>,
    pub end_reason: Option<String>,
    pub exit_status: Option<String>,
    pub bytes_in: i64,
    pub bytes_out: i64,
    /// `recorded`, `unrecorded` (the store was down and the operator chose fail-open) or
    /// `failed` (the store failed mid-session, which ended it).
    pub recording: String,
    pub recording_sha256: Option<String>,
    pub recording_bytes: Option<i64>,
    /// The wicketd that relays (or relayed) it: its replica id.
    pub replica: Option<String>,
}

/// How a session ended.
#[derive(Debug, Clone, Default)]
pub struct SessionEnd {
    pub ended_at: Millis,
    pub reason: String,
    pub exit_status: Option<String>,
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub recording: String,
    pub recording_sha256: Option<String>,
    pub recording_bytes: Option<i64>,
}

/// Which sessions to list.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub active_only: bool,
    pub user_name: Option<String>,
    pub target_name: Option<String>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    pub limit: Option<i64>,
}

pub(crate) const COLUMNS: &str =
    "id, user_id, user_name, target_id, target_name, action, run_as, command, \
     tty, source_ip, started_at, ended_at, end_reason, exit_status, bytes_in, bytes_out, \
     recording, recording_sha256, recording_bytes, replica";

pub(crate) fn from_row(r: &sqlx::any::AnyRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        user_name: r.try_get("user_name")?,
        target_id: r.try_get("target_id")?,
        target_name: r.try_get("target_name")?,
        action: r.try_get("action")?,
        run_as: r.try_get("run_as")?,
        command: r.try_get("command")?,
        tty: r.try_get::<i64, _>("tty")? != 0,
        source_ip: r.try_get("source_ip")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        end_reason: r.try_get("end_reason")?,
        exit_status: r.try_get("exit_status")?,
        bytes_in: r.try_get("bytes_in")?,
        bytes_out: r.try_get("bytes_out")?,
        recording: r.try_get("recording")?,
        recording_sha256: r.try_get("recording_sha256")?,
        recording_bytes: r.try_get("recording_bytes")?,
        replica: r.try_get("replica")?,
    })
}

impl Store {
    /// Records a session as it opens (`ended_at` and the counters empty).
    pub async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, user_name, target_id, target_name, action, run_as, \
             command, tty, source_ip, started_at, recording, replica) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&s.id)
        .bind(&s.user_id)
        .bind(&s.user_name)
        .bind(&s.target_id)
        .bind(&s.target_name)
        .bind(&s.action)
        .bind(&s.run_as)
        .bind(&s.command)
        .bind(i64::from(s.tty))
        .bind(&s.source_ip)
        .bind(s.started_at)
        .bind(&s.recording)
        .bind(&s.replica)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Completes a session's row; a session ends once (a second call changes nothing).
    pub async fn end_session(&self, id: &str, end: &SessionEnd) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE sessions SET ended_at = $1, end_reason = $2, exit_status = $3, bytes_in = $4, \
             bytes_out = $5, recording = $6, recording_sha256 = $7, recording_bytes = $8 \
             WHERE id = $9 AND ended_at IS NULL",
        )
        .bind(end.ended_at)
        .bind(&end.reason)
        .bind(&end.exit_status)
        .bind(end.bytes_in)
        .bind(end.bytes_out)
        .bind(&end.recording)
        .bind(&end.recording_sha256)
        .bind(end.recording_bytes)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Asks whichever replica relays live session `id` to end it with `reason` (its own
    /// housekeeping finds the request). False when the session has ended, or was already asked.
    pub async fn request_termination(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE sessions SET terminate_requested = $1 \
             WHERE id = $2 AND ended_at IS NULL AND terminate_requested IS NULL",
        )
        .bind(reason)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Live sessions some replica was asked to end: (id, reason).
    pub async fn termination_requests(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, terminate_requested FROM sessions \
             WHERE terminate_requested IS NOT NULL AND ended_at IS NULL",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("terminate_requested")?)))
            .collect()
    }

    pub async fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM sessions WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Sessions matching `f`, newest first.
    pub async fn list_sessions(&self, f: &SessionFilter) -> Result<Vec<SessionRecord>, StoreError> {
        // Every filter is bound, never spliced: `$n IS NULL OR ...` keeps one statement.
        let sql = format!(
            "SELECT {COLUMNS} FROM sessions WHERE \
             ($1 = 0 OR ended_at IS NULL) AND \
             ($2 IS NULL OR user_name = $2) AND \
             ($3 IS NULL OR target_name = $3) AND \
             ($4 IS NULL OR started_at >= $4) AND \
             ($5 IS NULL OR started_at < $5) \
             ORDER BY started_at DESC, id DESC LIMIT $6"
        );
        let rows = sqlx::query(&sql)
            .bind(i64::from(f.active_only))
            .bind(&f.user_name)
            .bind(&f.target_name)
            .bind(f.since)
            .bind(f.until)
            .bind(f.limit.unwrap_or(1000).clamp(1, 10_000))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }
}

//! The audit chain's storage: appending events (serialized so the chain never forks), reading
//! them back with filters, and the signed checkpoints. Hashing is `wicket-audit`'s; this module
//! only runs it inside the append transaction.

use sqlx::any::AnyRow;
use sqlx::Row;
use wicket_audit::{
    canonical_json, ChainedEvent, Checkpoint, Event, Hash, KeyAdoption, Outcome, ADOPT_ACTION,
};

use crate::db::decode_hex;
use crate::{Millis, Store, StoreError};

/// Which events to list. Every field narrows the result; all unset lists from the start.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only events with a sequence number above this (paging forwards: the last one seen).
    pub after_seq: Option<u64>,
    /// Only events with a sequence number below this (paging backwards: the first one seen).
    pub before_seq: Option<u64>,
    /// Only events at or after this time.
    pub since: Option<Millis>,
    /// Only events before this time.
    pub until: Option<Millis>,
    /// Only events whose actor is exactly this.
    pub actor: Option<String>,
    /// Only events whose action is this or starts with this and a dot (`session` matches
    /// `session.start`).
    pub action: Option<String>,
    /// Only events whose resource is exactly this.
    pub resource: Option<String>,
    /// At most this many (default and cap: 1000).
    pub limit: Option<u32>,
    /// Take the newest `limit` matching events rather than the oldest. They are still
    /// returned in chain order, oldest first.
    pub newest: bool,
}

/// The most events one call returns.
pub const AUDIT_PAGE_MAX: u32 = 1000;

const COLUMNS: &str =
    "seq, time, actor, source, action, resource, outcome, details, prev_hash, hash";

fn hash_of(column: &'static str, value: &str) -> Result<Hash, StoreError> {
    decode_hex(column, value)?
        .try_into()
        .map_err(|_| StoreError::Corrupt {
            column,
            reason: "expected 32 bytes".into(),
        })
}

fn from_row(row: &AnyRow) -> Result<ChainedEvent, StoreError> {
    let outcome: String = row.try_get("outcome")?;
    Ok(ChainedEvent {
        event: Event {
            seq: row.try_get::<i64, _>("seq")? as u64,
            time: row.try_get("time")?,
            actor: row.try_get("actor")?,
            source: row.try_get("source")?,
            action: row.try_get("action")?,
            resource: row.try_get("resource")?,
            outcome: Outcome::parse(&outcome).ok_or(StoreError::Corrupt {
                column: "audit_events.outcome",
                reason: format!("unknown outcome {outcome:?}"),
            })?,
            details: row.try_get("details")?,
        },
        prev_hash: hash_of(
            "audit_events.prev_hash",
            &row.try_get::<String, _>("prev_hash")?,
        )?,
        hash: hash_of("audit_events.hash", &row.try_get::<String, _>("hash")?)?,
    })
}

impl Store {
    /// Appends `events` (their `seq` is ignored and assigned here) to the chain in one
    /// transaction, and returns them chained.
    ///
    /// The first statement updates the single `audit_head` row, which takes the SQLite write
    /// lock (so a concurrent writer waits out the busy timeout rather than failing) and the
    /// PostgreSQL row lock (so a concurrent append in another server process waits for this
    /// one to commit and then reads the new head). Reading the head, hashing and inserting all
    /// happen under that lock: the chain cannot fork.
    pub async fn append_audit(&self, events: Vec<Event>) -> Result<Vec<ChainedEvent>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool().begin().await?;
        let chained = append_locked(&mut tx, events).await?;
        tx.commit().await?;
        Ok(chained)
    }

    /// The last appended sequence number and hash (0 and the genesis hash when empty).
    pub async fn audit_head(&self) -> Result<(u64, Hash), StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        Ok((
            row.try_get::<i64, _>("seq")? as u64,
            hash_of("audit_head.hash", &row.try_get::<String, _>("hash")?)?,
        ))
    }

    /// Checks that the chain's head row is there and names the last event, by sequence number
    /// and hash. Each append moves both in one transaction, so a mismatch means the database
    /// was damaged or edited (events deleted from the end, a head restored from another copy).
    pub async fn check_audit_head(&self) -> Result<(), StoreError> {
        let damaged = |detail: String| {
            StoreError::Damaged(format!(
                "the audit chain's head {detail}: the database was damaged or edited. wicketd \
                 will not start on it: restore it from a backup"
            ))
        };
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| damaged("is missing".into()))?;
        let seq = head.try_get::<i64, _>("seq")?;
        let hash: String = head.try_get("hash")?;
        let last = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(self.pool())
            .await?;
        match last {
            None if seq == 0 => Ok(()),
            None => Err(damaged(format!(
                "is at event {seq}, but there are no events"
            ))),
            Some(row) => {
                let last_seq = row.try_get::<i64, _>("seq")?;
                let last_hash: String = row.try_get("hash")?;
                if last_seq != seq {
                    Err(damaged(format!(
                        "is at event {seq}, but the last event is {last_seq}"
                    )))
                } else if last_hash != hash {
                    Err(damaged(format!("does not match the hash of event {seq}")))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Events matching `filter`, in chain order: the oldest `limit` of them, or with
    /// `filter.newest` the newest.
    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<ChainedEvent>, StoreError> {
        let mut clauses = String::new();
        if filter.after_seq.is_some() {
            clauses.push_str(" AND seq > ?");
        }
        if filter.before_seq.is_some() {
            clauses.push_str(" AND seq < ?");
        }
        if filter.since.is_some() {
            clauses.push_str(" AND time >= ?");
        }
        if filter.until.is_some() {
            clauses.push_str(" AND time < ?");
        }
        if filter.actor.is_some() {
            clauses.push_str(" AND actor = ?");
        }
        if filter.action.is_some() {
            // Exact, or the prefix followed by a dot.
            clauses.push_str(" AND (action = ? OR action LIKE ?)");
        }
        if filter.resource.is_some() {
            clauses.push_str(" AND resource = ?");
        }
        // Number the placeholders `$1, $2, ...` in order: both backends accept that form.
        let mut sql = format!("SELECT {COLUMNS} FROM audit_events WHERE 1 = 1");
        for (i, part) in clauses.split('?').enumerate() {
            if i > 0 {
                sql.push_str(&format!("${i}"));
            }
            sql.push_str(part);
        }
        let limit = filter.limit.unwrap_or(AUDIT_PAGE_MAX).min(AUDIT_PAGE_MAX);
        let order = if filter.newest { "DESC" } else { "ASC" };
        sql.push_str(&format!(" ORDER BY seq {order} LIMIT {limit}"));
        let mut q = sqlx::query(&sql);
        if let Some(v) = filter.after_seq {
            q = q.bind(v as i64);
        }
        if let Some(v) = filter.before_seq {
            // A sequence number past what SQL's BIGINT holds is past every event.
            q = q.bind(v.min(i64::MAX as u64) as i64);
        }
        if let Some(v) = filter.since {
            q = q.bind(v);
        }
        if let Some(v) = filter.until {
            q = q.bind(v);
        }
        if let Some(v) = &filter.actor {
            q = q.bind(v.clone());
        }
        if let Some(v) = &filter.action {
            let escaped = v.replace(['%', '_'], "");
            q = q.bind(v.clone()).bind(format!("{escaped}.%"));
        }
        if let Some(v) = &filter.resource {
            q = q.bind(v.clone());
        }
        let rows = q.fetch_all(self.pool()).await?;
        let mut events = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        if filter.newest {
            events.reverse();
        }
        Ok(events)
    }

    /// Stores a signed checkpoint; a second one for the same sequence number (another replica
    /// signed the same head) is ignored.
    pub async fn insert_audit_checkpoint(&self, cp: &Checkpoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, head, time, signature) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (seq) DO NOTHING",
        )
        .bind(cp.seq as i64)
        .bind(hex::encode(cp.head))
        .bind(cp.time)
        .bind(hex::encode(&cp.signature))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Checkpoints with a sequence number above `after_seq`, oldest first, at most `limit`.
    pub async fn list_audit_checkpoints(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        let sql = format!(
            "SELECT seq, head, time, signature FROM audit_checkpoints WHERE seq > $1 \
             ORDER BY seq LIMIT {}",
            limit.min(AUDIT_PAGE_MAX)
        );
        let rows = sqlx::query(&sql)
            .bind(after_seq as i64)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Checkpoint {
                    seq: row.try_get::<i64, _>("seq")? as u64,
                    head: hash_of("audit_checkpoints.head", &row.try_get::<String, _>("head")?)?,
                    time: row.try_get("time")?,
                    signature: decode_hex(
                        "audit_checkpoints.signature",
                        &row.try_get::<String, _>("signature")?,
                    )?,
                })
            })
            .collect()
    }

    /// The newest checkpoint, if any.
    pub async fn last_audit_checkpoint(&self) -> Result<Option<u64>, StoreError> {
        let row = sqlx::query("SELECT MAX(seq) AS seq FROM audit_checkpoints")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<Option<i64>, _>("seq")?.map(|s| s as u64))
    }

    /// The audit key (hex public key) that signs this database's checkpoints, if one was claimed.
    pub async fn audit_key(&self) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT public_key FROM audit_key WHERE id = 1")
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get("public_key")).transpose()?)
    }

    /// Claims the database for `public_key` if no key has claimed it yet, and returns the key
    /// in force: `public_key` itself, or the one claimed before (a server holding another key
    /// must not sign this chain).
    pub async fn claim_audit_key(&self, public_key: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO audit_key (id, public_key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(public_key)
        .execute(self.pool())
        .await?;
        self.audit_key().await?.ok_or_else(|| StoreError::Corrupt {
            column: "audit_key.public_key",
            reason: "missing right after it was claimed".into(),
        })
    }

    /// Makes `public_key` the database's audit key, recording the change in the chain in the
    /// same transaction: `event` (its `seq` is assigned, its details replaced by the
    /// [`KeyAdoption`]). Returns the chained event, or `None` when the key was already in
    /// force (nothing is recorded then).
    pub async fn adopt_audit_key(
        &self,
        public_key: &str,
        mut event: Event,
    ) -> Result<Option<ChainedEvent>, StoreError> {
        let mut tx = self.pool().begin().await?;
        // Taking the head's lock first serializes this with appends and other adoptions.
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let previous: Option<String> = sqlx::query("SELECT public_key FROM audit_key WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("public_key"))
            .transpose()?;
        if previous.as_deref() == Some(public_key) {
            return Ok(None);
        }
        event.action = ADOPT_ACTION.to_owned();
        event.details = canonical_json(&serde_json::json!(KeyAdoption {
            previous: previous.unwrap_or_default(),
            key: public_key.to_owned(),
        }));
        let mut chained = append_locked(&mut tx, vec![event]).await?;
        sqlx::query(
            "INSERT INTO audit_key (id, public_key) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET public_key = excluded.public_key",
        )
        .bind(public_key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(chained.pop())
    }
}

/// Takes the head row's lock, then appends `events` after the head inside `tx` (see
/// [`Store::append_audit`] for why this serializes appends).
async fn append_locked(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    events: Vec<Event>,
) -> Result<Vec<ChainedEvent>, StoreError> {
    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut **tx)
        .await?;
    let mut seq = row.try_get::<i64, _>("seq")? as u64;
    let mut prev = hash_of("audit_head.hash", &row.try_get::<String, _>("hash")?)?;
    let mut chained = Vec::with_capacity(events.len());
    for mut event in events {
        seq += 1;
        event.seq = seq;
        let c = ChainedEvent::new(event, prev);
        sqlx::query(
            "INSERT INTO audit_events (seq, time, actor, source, action, resource, outcome, \
                 details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(c.event.seq as i64)
        .bind(c.event.time)
        .bind(&c.event.actor)
        .bind(&c.event.source)
        .bind(&c.event.action)
        .bind(&c.event.resource)
        .bind(c.event.outcome.as_str())
        .bind(&c.event.details)
        .bind(hex::encode(c.prev_hash))
        .bind(hex::encode(c.hash))
        .execute(&mut **tx)
        .await?;
        prev = c.hash;
        chained.push(c);
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq as i64)
        .bind(hex::encode(prev))
        .execute(&mut **tx)
        .await?;
    Ok(chained)
}

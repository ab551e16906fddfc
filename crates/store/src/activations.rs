//! Activations: enrolment codes an admin hands to a host so its agent can register as a
//! target. Only a hash of the code is stored. Registration is the one multi-step write in the
//! store and runs in a single transaction so a code's registration limit holds under races.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{ct_eq, decode_hex, decode_json, encode_json, is_unique_violation, new_id};
use crate::targets::{self, NewTarget, Target};
use crate::{Millis, RegisterError, Store, StoreError};

/// Input to [`Store::create_activation`].
#[derive(Clone, PartialEq, Eq)]
pub struct NewActivation {
    pub code_hash: Vec<u8>,
    /// Default tags for every target registered with this activation.
    pub tags: BTreeMap<String, String>,
    pub expires_at: Millis,
    pub max_registrations: i64,
    /// Who created it (a user id, or whatever the caller uses for audit).
    pub created_by: String,
    pub now: Millis,
}

impl std::fmt::Debug for NewActivation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewActivation")
            .field("code_hash", &"<redacted>")
            .field("tags", &self.tags)
            .field("expires_at", &self.expires_at)
            .field("max_registrations", &self.max_registrations)
            .field("created_by", &self.created_by)
            .field("now", &self.now)
            .finish()
    }
}

/// A stored activation. The code hash is not a field: only `register_target` needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Activation {
    pub id: String,
    pub tags: BTreeMap<String, String>,
    pub expires_at: Millis,
    pub max_registrations: i64,
    pub registrations: i64,
    pub created_by: String,
    pub created_at: Millis,
}

const COLUMNS: &str =
    "id, tags, expires_at, max_registrations, registrations, created_by, created_at";

fn from_row(row: &AnyRow) -> Result<Activation, StoreError> {
    Ok(Activation {
        id: row.try_get("id")?,
        tags: decode_json("activations.tags", &row.try_get::<String, _>("tags")?)?,
        expires_at: row.try_get("expires_at")?,
        max_registrations: row.try_get("max_registrations")?,
        registrations: row.try_get("registrations")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    pub async fn create_activation(&self, new: NewActivation) -> Result<Activation, StoreError> {
        let activation = Activation {
            id: new_id("act")?,
            tags: new.tags,
            expires_at: new.expires_at,
            max_registrations: new.max_registrations,
            registrations: 0,
            created_by: new.created_by,
            created_at: new.now,
        };
        sqlx::query(
            "INSERT INTO activations (id, code_hash, tags, expires_at, max_registrations, \
             registrations, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&activation.id)
        .bind(hex::encode(&new.code_hash))
        .bind(encode_json("activations.tags", &activation.tags)?)
        .bind(activation.expires_at)
        .bind(activation.max_registrations)
        .bind(activation.registrations)
        .bind(&activation.created_by)
        .bind(activation.created_at)
        .execute(self.pool())
        .await?;
        Ok(activation)
    }

    /// All activations, newest first.
    pub async fn list_activations(&self) -> Result<Vec<Activation>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM activations ORDER BY created_at DESC, id");
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(from_row).collect()
    }

    /// Registers a target with an activation code, in one transaction: claim a registration
    /// slot, check the code, insert the target, commit. Any failure rolls the claim back.
    ///
    /// The claim is a conditional `UPDATE ... WHERE registrations < max_registrations AND
    /// expires_at > now` and runs first, which (a) makes the limit hold under concurrency on
    /// both backends (PostgreSQL re-checks the condition after waiting on the row lock), and
    /// (b) on SQLite takes the write lock before any read, so a concurrent writer makes us wait
    /// (busy timeout) instead of failing with SQLITE_BUSY on a lock upgrade.
    ///
    /// The code is checked before expiry or limit are reported, so someone without the code
    /// learns nothing but "wrong code".
    pub async fn register_target(
        &self,
        activation_id: &str,
        code_hash: &[u8],
        now: Millis,
        target: NewTarget,
    ) -> Result<Target, RegisterError> {
        let mut tx = self.pool().begin().await?;
        let claimed = sqlx::query(
            "UPDATE activations SET registrations = registrations + 1 \
             WHERE id = $1 AND registrations < max_registrations AND expires_at > $2",
        )
        .bind(activation_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;

        let sql = format!("SELECT code_hash, {COLUMNS} FROM activations WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(activation_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Err(RegisterError::NotFound);
        };
        let stored_hash = decode_hex(
            "activations.code_hash",
            &row.try_get::<String, _>("code_hash")?,
        )?;
        if !ct_eq(&stored_hash, code_hash) {
            return Err(RegisterError::WrongCode);
        }
        let activation = from_row(&row)?;
        if !claimed {
            return Err(if activation.expires_at <= now {
                RegisterError::Expired
            } else {
                RegisterError::Exhausted(activation.max_registrations)
            });
        }

        let mut tags = activation.tags;
        tags.extend(target.tags);
        let target = Target {
            id: new_id("tgt")?,
            name: target.name,
            public_key: target.public_key,
            tags,
            activation_id: activation.id,
            created_at: now,
            last_seen: None,
            inventory: None,
            revoked_at: None,
        };
        match targets::insert(&mut tx, &target).await? {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => return Err(RegisterError::NameTaken(target.name)),
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(target)
    }
}

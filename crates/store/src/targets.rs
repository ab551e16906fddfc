//! Targets: hosts whose agent enrolled with an activation code and now dials in. Revoking one
//! keeps its row (and its name taken); deleting one frees the name, and the session history
//! still reads, since sessions copy the names they show.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use sqlx::Row;

use crate::db::{decode_hex, decode_json, encode_json};
use crate::{Millis, Store, StoreError};

/// What an agent reports about its host; stored as JSON so new fields need no migration, and
/// missing fields default so reports from older or newer agents still load.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Inventory {
    pub hostname: String,
    pub os: String,
    pub kernel: String,
    pub arch: String,
    pub addresses: Vec<String>,
    pub agent_version: String,
    /// The user the agent runs as: who sessions run as when no one is named.
    pub user: String,
}

/// What an agent asks to be registered as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTarget {
    /// Must be unique among all targets, revoked ones included.
    pub name: String,
    pub public_key: Vec<u8>,
    /// Merged over the activation's default tags by `register_target`; these win on conflict.
    pub tags: BTreeMap<String, String>,
}

/// An enrolled agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Target {
    pub id: String,
    pub name: String,
    pub public_key: Vec<u8>,
    pub tags: BTreeMap<String, String>,
    pub activation_id: String,
    pub created_at: Millis,
    /// Last time the agent's link came up or went down, or it sent inventory.
    pub last_seen: Option<Millis>,
    pub inventory: Option<Inventory>,
    pub revoked_at: Option<Millis>,
}

const COLUMNS: &str =
    "id, name, public_key, tags, activation_id, created_at, last_seen, inventory, revoked_at";

fn from_row(row: &AnyRow) -> Result<Target, StoreError> {
    let inventory: Option<String> = row.try_get("inventory")?;
    Ok(Target {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        public_key: decode_hex(
            "targets.public_key",
            &row.try_get::<String, _>("public_key")?,
        )?,
        tags: decode_json("targets.tags", &row.try_get::<String, _>("tags")?)?,
        activation_id: row.try_get("activation_id")?,
        created_at: row.try_get("created_at")?,
        last_seen: row.try_get("last_seen")?,
        inventory: inventory
            .map(|s| decode_json("targets.inventory", &s))
            .transpose()?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// Inserts `target` on `conn` (a transaction in `register_target`). Unique violations are
/// returned as the raw sqlx error so the caller can map them to `NameTaken`.
pub(crate) async fn insert(
    conn: &mut AnyConnection,
    target: &Target,
) -> Result<Result<(), sqlx::Error>, StoreError> {
    let tags = encode_json("targets.tags", &target.tags)?;
    let inventory = target
        .inventory
        .as_ref()
        .map(|inv| encode_json("targets.inventory", inv))
        .transpose()?;
    let done = sqlx::query(
        "INSERT INTO targets (id, name, public_key, tags, activation_id, created_at, last_seen, \
         inventory, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&target.id)
    .bind(&target.name)
    .bind(hex::encode(&target.public_key))
    .bind(tags)
    .bind(&target.activation_id)
    .bind(target.created_at)
    .bind(target.last_seen)
    .bind(inventory)
    .bind(target.revoked_at)
    .execute(conn)
    .await;
    Ok(done.map(|_| ()))
}

impl Store {
    pub async fn target_by_id(&self, id: &str) -> Result<Option<Target>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM targets WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A target by name, else by id (what users and administrators type), revoked or not.
    pub async fn target_by_name_or_id(&self, wanted: &str) -> Result<Option<Target>, StoreError> {
        match self.target_by_name(wanted).await? {
            Some(t) => Ok(Some(t)),
            None => self.target_by_id(wanted).await,
        }
    }

    pub async fn target_by_name(&self, name: &str) -> Result<Option<Target>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM targets WHERE name = $1");
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// All targets, revoked ones included, ordered by name.
    pub async fn list_targets(&self) -> Result<Vec<Target>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM targets ORDER BY name");
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(from_row).collect()
    }

    /// Called when an agent link comes up or goes down, and with fresh inventory: sets
    /// `last_seen` and, when given, replaces the inventory (absent inventory keeps the old one).
    /// An unknown id is [`StoreError::NotFound`].
    pub async fn record_target_seen(
        &self,
        id: &str,
        now: Millis,
        inventory: Option<&Inventory>,
    ) -> Result<(), StoreError> {
        let inventory = inventory
            .map(|inv| encode_json("targets.inventory", inv))
            .transpose()?;
        let done = sqlx::query(
            "UPDATE targets SET last_seen = $2, inventory = COALESCE($3, inventory) WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(inventory)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("no target with id {id:?}")));
        }
        Ok(())
    }

    /// Revokes a target so its agent can no longer connect; returns false if it does not exist
    /// or was already revoked (the first revocation time is kept). The name stays taken.
    pub async fn revoke_target(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE targets SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces a target's tags; returns false if it does not exist.
    pub async fn set_target_tags(
        &self,
        id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<bool, StoreError> {
        let tags = encode_json("targets.tags", tags)?;
        let done = sqlx::query("UPDATE targets SET tags = $2 WHERE id = $1")
            .bind(id)
            .bind(tags)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a target: its agent's key goes with it, so the agent is refused as unknown,
    /// and its name may be enrolled again. Returns false if it did not exist.
    pub async fn delete_target(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM targets WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

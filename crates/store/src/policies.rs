//! The Cedar policy set, versioned. The store keeps the text; validating it is the caller's job
//! (wicket-policy), so that a set is only ever inserted after it was checked.

use sqlx::Row;

use crate::{Millis, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyVersion {
    pub version: i64,
    pub text: String,
    pub created_by: String,
    pub created_at: Millis,
}

impl Store {
    /// The newest policy set, if an operator ever set one.
    pub async fn active_policy(&self) -> Result<Option<PolicyVersion>, StoreError> {
        let row = sqlx::query(
            "SELECT version, text, created_by, created_at FROM policy_sets \
             ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(PolicyVersion {
                version: r.try_get("version")?,
                text: r.try_get("text")?,
                created_by: r.try_get("created_by")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }

    /// Stores `text` as the next version. Two concurrent writers race on the primary key; the
    /// loser gets [`StoreError::Conflict`] and nothing is overwritten.
    pub async fn insert_policy(
        &self,
        text: &str,
        created_by: &str,
        now: Millis,
    ) -> Result<PolicyVersion, StoreError> {
        let current = self.active_policy().await?.map(|p| p.version).unwrap_or(0);
        let version = current + 1;
        let r = sqlx::query(
            "INSERT INTO policy_sets (version, text, created_by, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(version)
        .bind(text)
        .bind(created_by)
        .bind(now)
        .execute(self.pool())
        .await;
        match r {
            Ok(_) => Ok(PolicyVersion {
                version,
                text: text.to_owned(),
                created_by: created_by.to_owned(),
                created_at: now,
            }),
            Err(e) if crate::db::is_unique_violation(&e) => Err(StoreError::Conflict(
                "the policy set changed concurrently; try again".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }
}

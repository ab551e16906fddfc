//! Single sign-on users: bound to an identity provider's (issuer, subject), without a password,
//! and with group memberships that follow the provider's groups claim at every SSO login.
//! Memberships an administrator made (`source = 'manual'`) are never changed by SSO logins.

use sqlx::Row;

use crate::db::{is_unique_violation, new_id};
use crate::users::{from_row, COLUMNS};
use crate::{Millis, SsoIdentity, Store, StoreError, User};

/// What [`Store::set_sso_groups`] changed, by group name (sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SsoGroupChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Groups that did not exist and were created because a mapping names them.
    pub created: Vec<String>,
}

impl Store {
    /// The user bound to this identity provider subject, if any.
    pub async fn user_by_sso(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE sso_issuer = $1 AND sso_subject = $2");
        let row = sqlx::query(&sql)
            .bind(issuer)
            .bind(subject)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Creates an enabled, non-admin user bound to `identity`, with no password (an empty hash,
    /// which no password verifies). A taken name or identity yields [`StoreError::Conflict`].
    pub async fn create_sso_user(
        &self,
        name: &str,
        identity: &SsoIdentity,
        now: Millis,
    ) -> Result<User, StoreError> {
        let user = User {
            id: new_id("usr")?,
            name: name.to_owned(),
            password_hash: String::new(),
            is_admin: false,
            disabled: false,
            created_at: now,
            sso: Some(identity.clone()),
        };
        let inserted = sqlx::query(
            "INSERT INTO users (id, name, password_hash, is_admin, disabled, created_at, \
             sso_issuer, sso_subject) VALUES ($1, $2, '', 0, 0, $3, $4, $5)",
        )
        .bind(&user.id)
        .bind(&user.name)
        .bind(user.created_at)
        .bind(&identity.issuer)
        .bind(&identity.subject)
        .execute(self.pool())
        .await;
        match inserted {
            Ok(_) => Ok(user),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "a user named {name:?} or with this identity already exists"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Makes the user's SSO-derived memberships exactly `groups` (names), in one transaction:
    /// SSO memberships of other groups are removed, missing ones added (groups that do not exist
    /// are created), and manual memberships are left as they are.
    pub async fn set_sso_groups(
        &self,
        user_id: &str,
        groups: &[String],
        now: Millis,
    ) -> Result<SsoGroupChange, StoreError> {
        let mut wanted: Vec<String> = groups.to_vec();
        wanted.sort();
        wanted.dedup();
        let mut change = SsoGroupChange::default();
        let mut tx = self.pool().begin().await?;
        for name in &wanted {
            let created = sqlx::query(
                "INSERT INTO groups (id, name, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(new_id("grp")?)
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if created.rows_affected() > 0 {
                change.created.push(name.clone());
            }
        }
        let rows = sqlx::query(
            "SELECT g.id, g.name, m.source FROM group_members m JOIN groups g ON g.id = m.group_id \
             WHERE m.user_id = $1",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut current = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: String = r.try_get("id")?;
            let name: String = r.try_get("name")?;
            let source: String = r.try_get("source")?;
            current.push((id, name, source));
        }
        for (gid, name, source) in &current {
            if source == "sso" && !wanted.contains(name) {
                sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                    .bind(gid)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                change.removed.push(name.clone());
            }
        }
        for name in &wanted {
            if current.iter().any(|(_, n, _)| n == name) {
                continue;
            }
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id, source) \
                 SELECT id, $1, 'sso' FROM groups WHERE name = $2",
            )
            .bind(user_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
            change.added.push(name.clone());
        }
        tx.commit().await?;
        change.removed.sort();
        Ok(change)
    }

    /// Whether an administrator deleted the user bound to this identity (and has not let it
    /// back in with [`Store::forget_deleted_sso_user`]).
    pub async fn sso_identity_deleted(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM sso_deleted WHERE issuer = $1 AND subject = $2")
            .bind(issuer)
            .bind(subject)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// Lets the deleted SSO user(s) of this name sign in (and be created) again; returns
    /// whether there was one.
    pub async fn forget_deleted_sso_user(&self, name: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM sso_deleted WHERE name = $1")
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// The user's group names with where each membership came from (`manual` or `sso`).
    pub async fn group_sources_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.name, m.source FROM groups g JOIN group_members m ON m.group_id = g.id \
             WHERE m.user_id = $1 ORDER BY g.name",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("source")?)))
            .collect()
    }
}

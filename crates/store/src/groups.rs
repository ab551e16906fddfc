//! Groups: the unit policies grant access to, so that access follows membership.

use sqlx::Row;

use crate::db::{is_unique_violation, new_id};
use crate::{Millis, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub created_at: Millis,
    /// Member user names, sorted.
    pub members: Vec<String>,
}

impl Store {
    pub async fn create_group(&self, name: &str, now: Millis) -> Result<Group, StoreError> {
        let id = new_id("grp")?;
        let r = sqlx::query("INSERT INTO groups (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(name)
            .bind(now)
            .execute(self.pool())
            .await;
        match r {
            Ok(_) => Ok(Group {
                id,
                name: name.to_owned(),
                created_at: now,
                members: Vec::new(),
            }),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "a group named {name:?} already exists"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Adds `user` (a name) to `group` (a name) as a manual membership. Adding a member twice is
    /// not an error.
    pub async fn add_group_member(&self, group: &str, user: &str) -> Result<(), StoreError> {
        let (gid, uid) = self.group_and_user_ids(group, user).await?;
        let exists =
            sqlx::query("SELECT 1 FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(&gid)
                .bind(&uid)
                .fetch_optional(self.pool())
                .await?;
        if exists.is_none() {
            sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)")
                .bind(&gid)
                .bind(&uid)
                .execute(self.pool())
                .await?;
        } else {
            // An administrator's explicit membership is kept even if it first came from an
            // SSO login's groups claim.
            sqlx::query(
                "UPDATE group_members SET source = 'manual' WHERE group_id = $1 AND user_id = $2",
            )
            .bind(&gid)
            .bind(&uid)
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }

    /// Removes `user` from `group`; returns whether it was a member.
    pub async fn remove_group_member(&self, group: &str, user: &str) -> Result<bool, StoreError> {
        let (gid, uid) = self.group_and_user_ids(group, user).await?;
        let r = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(&gid)
            .bind(&uid)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Deletes a group and its memberships; returns false if there was no such group. A
    /// single sign-on login whose groups claim names it creates it again.
    pub async fn delete_group(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let Some(row) = sqlx::query("SELECT id FROM groups WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(false);
        };
        let id: String = row.try_get("id")?;
        sqlx::query("DELETE FROM group_members WHERE group_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every group with its members, by name.
    pub async fn list_groups(&self) -> Result<Vec<Group>, StoreError> {
        let rows = sqlx::query("SELECT id, name, created_at FROM groups ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        let members = sqlx::query(
            "SELECT m.group_id, u.name FROM group_members m JOIN users u ON u.id = m.user_id \
             ORDER BY u.name",
        )
        .fetch_all(self.pool())
        .await?;
        let mut groups = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get("id")?;
            let names = members
                .iter()
                .filter(|m| m.try_get::<String, _>("group_id").ok().as_deref() == Some(&id))
                .map(|m| m.try_get::<String, _>("name"))
                .collect::<Result<Vec<_>, _>>()?;
            groups.push(Group {
                id,
                name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
                members: names,
            });
        }
        Ok(groups)
    }

    /// Names of the groups a user belongs to, sorted: what the policy engine needs per request.
    pub async fn groups_of_user(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.name FROM groups g JOIN group_members m ON m.group_id = g.id \
             WHERE m.user_id = $1 ORDER BY g.name",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("name").map_err(Into::into))
            .collect()
    }

    async fn group_and_user_ids(
        &self,
        group: &str,
        user: &str,
    ) -> Result<(String, String), StoreError> {
        let g = sqlx::query("SELECT id FROM groups WHERE name = $1")
            .bind(group)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no group named {group:?}")))?;
        let u = self
            .user_by_name(user)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no user named {user:?}")))?;
        Ok((g.try_get("id")?, u.id))
    }
}

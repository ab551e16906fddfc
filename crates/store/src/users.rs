//! User accounts: who may log in to the control plane, and whether they administer it.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{flag, is_unique_violation, new_id};
use crate::{Millis, Store, StoreError};

/// A user account. `Debug` is written by hand so the password hash never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    /// A PHC string (e.g. argon2id) produced by the caller; the store never sees passwords.
    pub password_hash: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: Millis,
    /// For users created by a single sign-on login: the identity provider's issuer and the
    /// user's subject there. Such users have no password.
    pub sso: Option<SsoIdentity>,
}

/// Who a single sign-on user is at their identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoIdentity {
    pub issuer: String,
    pub subject: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("password_hash", &"<redacted>")
            .field("is_admin", &self.is_admin)
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .field("sso", &self.sso)
            .finish()
    }
}

pub(crate) const COLUMNS: &str =
    "id, name, password_hash, is_admin, disabled, created_at, sso_issuer, sso_subject";

pub(crate) fn from_row(row: &AnyRow) -> Result<User, StoreError> {
    let issuer: Option<String> = row.try_get("sso_issuer")?;
    let subject: Option<String> = row.try_get("sso_subject")?;
    Ok(User {
        sso: issuer
            .zip(subject)
            .map(|(issuer, subject)| SsoIdentity { issuer, subject }),
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Creates an enabled user. A taken name yields [`StoreError::Conflict`].
    pub async fn create_user(
        &self,
        name: &str,
        password_hash: &str,
        is_admin: bool,
        now: Millis,
    ) -> Result<User, StoreError> {
        let user = User {
            id: new_id("usr")?,
            name: name.to_owned(),
            password_hash: password_hash.to_owned(),
            is_admin,
            disabled: false,
            created_at: now,
            sso: None,
        };
        let inserted = sqlx::query(
            "INSERT INTO users (id, name, password_hash, is_admin, disabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.id)
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(flag(user.is_admin))
        .bind(flag(user.disabled))
        .bind(user.created_at)
        .execute(self.pool())
        .await;
        match inserted {
            Ok(_) => Ok(user),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "a user named {name:?} already exists"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE name = $1");
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// All users, ordered by name for stable listings.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users ORDER BY name");
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(from_row).collect()
    }

    /// Disables or enables a user by name; returns whether the user exists. Disabling does
    /// not delete tokens: authentication checks the flag on every request.
    pub async fn set_user_disabled(&self, name: &str, disabled: bool) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE users SET disabled = $1 WHERE name = $2")
            .bind(flag(disabled))
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Deletes a user, their tokens and memberships, in one transaction; returns whether the
    /// user existed. For a single sign-on user, the identity is remembered as deleted
    /// ([`Store::sso_identity_deleted`]) so that the next SSO login does not recreate it.
    pub async fn delete_user(&self, name: &str) -> Result<bool, StoreError> {
        let Some(user) = self.user_by_name(name).await? else {
            return Ok(false);
        };
        let mut tx = self.pool().begin().await?;
        if let Some(sso) = &user.sso {
            sqlx::query(
                "INSERT INTO sso_deleted (issuer, subject, name, deleted_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (issuer, subject) DO NOTHING",
            )
            .bind(&sso.issuer)
            .bind(&sso.subject)
            .bind(&user.name)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM tokens WHERE user_id = $1")
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM group_members WHERE user_id = $1")
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
    }
}

fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

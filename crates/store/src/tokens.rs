//! Bearer tokens for the API. Only a hash of each secret is stored, so a leaked database does
//! not hand out sessions; the caller hashes the presented secret and looks it up here.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{flag, new_id};
use crate::{Millis, Store, StoreError};

/// A token row. The hash is deliberately not a field: nothing past the lookup needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Token {
    pub id: String,
    pub user_id: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub revoked_at: Option<Millis>,
    /// Whether the login that issued it proved a second factor (TOTP or a recovery code).
    pub mfa: bool,
}

impl Token {
    /// Whether the token may still authenticate at `now`: not revoked and not yet expired.
    pub fn is_active(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

const COLUMNS: &str = "id, user_id, created_at, expires_at, revoked_at, mfa";

fn from_row(row: &AnyRow) -> Result<Token, StoreError> {
    Ok(Token {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        mfa: row.try_get::<i64, _>("mfa")? != 0,
    })
}

impl Store {
    /// Stores a new token for `user_id` (which must exist) keyed by `token_hash`, issued
    /// without a second factor.
    pub async fn insert_token(
        &self,
        user_id: &str,
        token_hash: &[u8],
        now: Millis,
        expires_at: Millis,
    ) -> Result<Token, StoreError> {
        self.insert_token_mfa(user_id, token_hash, now, expires_at, false)
            .await
    }

    /// As [`Store::insert_token`], recording whether the login proved a second factor.
    pub async fn insert_token_mfa(
        &self,
        user_id: &str,
        token_hash: &[u8],
        now: Millis,
        expires_at: Millis,
        mfa: bool,
    ) -> Result<Token, StoreError> {
        let token = Token {
            id: new_id("tok")?,
            user_id: user_id.to_owned(),
            created_at: now,
            expires_at,
            revoked_at: None,
            mfa,
        };
        sqlx::query(
            "INSERT INTO tokens (id, user_id, token_hash, created_at, expires_at, mfa) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token.id)
        .bind(&token.user_id)
        .bind(hex::encode(token_hash))
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(flag(token.mfa))
        .execute(self.pool())
        .await?;
        Ok(token)
    }

    /// Finds a token by hash, including revoked and expired ones (so the caller can say why a
    /// token was refused); check [`Token::is_active`] before trusting it. The lookup is an
    /// index match on a hash of a high-entropy secret, so it needs no constant-time compare.
    pub async fn token_by_hash(&self, token_hash: &[u8]) -> Result<Option<Token>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tokens WHERE token_hash = $1");
        let row = sqlx::query(&sql)
            .bind(hex::encode(token_hash))
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tokens WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Revokes a token; returns false if it does not exist or was already revoked (the first
    /// revocation time is kept).
    pub async fn revoke_token(&self, token_id: &str, now: Millis) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(token_id)
                .bind(now)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Tokens that are neither expired nor revoked at `now`, newest first.
    pub async fn list_active_tokens(&self, now: Millis) -> Result<Vec<Token>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tokens WHERE revoked_at IS NULL AND expires_at > $1 \
             ORDER BY created_at DESC"
        );
        let rows = sqlx::query(&sql).bind(now).fetch_all(self.pool()).await?;
        rows.iter().map(from_row).collect()
    }

    /// Revokes every live token of a user; returns how many.
    pub async fn revoke_user_tokens(&self, user_id: &str, now: Millis) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected())
    }
}

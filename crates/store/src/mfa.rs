//! Multi-factor login: a user's TOTP secret and one-time recovery codes.
//!
//! The TOTP secret has to be usable to verify codes, so unlike every other secret here it is
//! stored as is (hex): the database must be protected like a credential store. Recovery codes
//! are stored only as hashes computed by the caller, each usable once. Replay protection lives
//! here too: [`Store::accept_totp_step`] records the last accepted time step atomically, so a
//! code is never accepted twice, even by two replicas at once.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{ct_eq, decode_hex, is_unique_violation};
use crate::{Millis, Store, StoreError};

/// A user's TOTP enrolment. `Debug` is written by hand so the secret never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpEnrolment {
    pub user_id: String,
    /// The raw shared secret (20 bytes for secrets made by wicketd).
    pub secret: Vec<u8>,
    pub created_at: Millis,
    /// `None` while enrolment waits for its first code.
    pub confirmed_at: Option<Millis>,
    /// The last accepted time step (unix seconds / 30).
    pub last_step: Option<i64>,
}

impl TotpEnrolment {
    pub fn is_confirmed(&self) -> bool {
        self.confirmed_at.is_some()
    }
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrolment")
            .field("user_id", &self.user_id)
            .field("secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("confirmed_at", &self.confirmed_at)
            .field("last_step", &self.last_step)
            .finish()
    }
}

fn from_row(row: &AnyRow) -> Result<TotpEnrolment, StoreError> {
    let secret: String = row.try_get("secret")?;
    Ok(TotpEnrolment {
        user_id: row.try_get("user_id")?,
        secret: decode_hex("user_totp.secret", &secret)?,
        created_at: row.try_get("created_at")?,
        confirmed_at: row.try_get("confirmed_at")?,
        last_step: row.try_get("last_step")?,
    })
}

impl Store {
    /// Starts (or restarts) enrolment with a new pending secret. A user whose enrolment is
    /// already confirmed gets [`StoreError::Conflict`]: an admin must reset it first.
    pub async fn begin_totp_enrolment(
        &self,
        user_id: &str,
        secret: &[u8],
        now: Millis,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM user_totp WHERE user_id = $1 AND confirmed_at IS NULL")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let inserted =
            sqlx::query("INSERT INTO user_totp (user_id, secret, created_at) VALUES ($1, $2, $3)")
                .bind(user_id)
                .bind(hex::encode(secret))
                .bind(now)
                .execute(&mut *tx)
                .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(
                    "multi-factor login is already enrolled; an admin must reset it first".into(),
                ))
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(())
    }

    /// The user's enrolment, pending or confirmed.
    pub async fn totp_enrolment(&self, user_id: &str) -> Result<Option<TotpEnrolment>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, secret, created_at, confirmed_at, last_step FROM user_totp \
             WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Confirms a pending enrolment with the time step of the code that proved it (which is
    /// thereby used up) and replaces the user's recovery codes with `recovery_hashes`, in one
    /// transaction. Returns false if there is no pending enrolment.
    pub async fn confirm_totp_enrolment(
        &self,
        user_id: &str,
        step: i64,
        recovery_hashes: &[Vec<u8>],
        now: Millis,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let r = sqlx::query(
            "UPDATE user_totp SET confirmed_at = $2, last_step = $3 \
             WHERE user_id = $1 AND confirmed_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .bind(step)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for h in recovery_hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id)
                .bind(hex::encode(h))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Records `step` as used if it is later than the last accepted one; returns whether it
    /// was (false: a replayed or older code, or no confirmed enrolment). Atomic, so of two
    /// concurrent logins with the same code only one succeeds.
    pub async fn accept_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE user_totp SET last_step = $2 WHERE user_id = $1 \
             AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $2)",
        )
        .bind(user_id)
        .bind(step)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Uses up the recovery code whose hash is `code_hash`; returns whether it was an unused
    /// code of this user. Every unused hash is compared in constant time, none skipped.
    pub async fn use_recovery_code(
        &self,
        user_id: &str,
        code_hash: &[u8],
        now: Millis,
    ) -> Result<bool, StoreError> {
        let rows = sqlx::query(
            "SELECT code_hash FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        let mut matched: Option<String> = None;
        for row in &rows {
            let stored: String = row.try_get("code_hash")?;
            let bytes = decode_hex("recovery_codes.code_hash", &stored)?;
            if ct_eq(&bytes, code_hash) {
                matched = Some(stored);
            }
        }
        let Some(stored) = matched else {
            return Ok(false);
        };
        let r = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(stored)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// How many unused recovery codes the user has.
    pub async fn recovery_codes_left(&self, user_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Removes the user's TOTP enrolment and recovery codes; returns whether there was an
    /// enrolment (pending or confirmed).
    pub async fn reset_mfa(&self, user_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
    }
}

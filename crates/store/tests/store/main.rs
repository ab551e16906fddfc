//! Store behaviour against real databases: every case runs on a temporary SQLite file, and
//! again on PostgreSQL when `WICKET_TEST_DATABASE_URL` is set (then an unreachable server is a
//! failure). Each PostgreSQL case gets its own database, dropped afterwards.
//!
//! Layout: `harness` (backends, the `cases!` macro, fixtures), `accounts` (users, tokens),
//! `activations`, `targets`, `mfa`, `audit`, `sso`, and here the tests that only make sense on one backend.

#[macro_use]
mod harness;
mod access;
mod accounts;
mod activations;
mod audit;
mod mfa;
mod sessions;
mod sso;
mod targets;

use anyhow::{ensure, Result};
use harness::NOW;
use wicket_store::testing::{fresh_postgres_url, postgres_base_url, sqlite_url};
use wicket_store::{Store, StoreError};

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode_and_reopens() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sub.db");
    let store = Store::open(&sqlite_url(&path)).await?;
    store.create_user("alice", "h", false, NOW).await?;
    ensure!(path.exists());
    ensure!(dir.path().join("sub.db-wal").exists(), "expected WAL mode");
    store.close().await;
    let again = Store::open(&sqlite_url(&path)).await?;
    ensure!(
        again.user_by_name("alice").await?.is_some(),
        "data must survive a reopen"
    );
    again.close().await;
    Ok(())
}

#[tokio::test]
async fn sqlite_in_memory_works() -> Result<()> {
    let store = Store::open("sqlite::memory:").await?;
    store.create_user("alice", "h", false, NOW).await?;
    ensure!(store.user_by_name("alice").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn unsupported_url_is_rejected() {
    let err = Store::open("mysql://localhost/x").await;
    assert!(matches!(err, Err(StoreError::UnsupportedUrl(_))), "{err:?}");
}

/// The `Drop` fallback of the PostgreSQL helper must remove the database (it runs when a test
/// panics before calling `drop_database`).
#[tokio::test]
async fn postgres_test_db_is_dropped_on_drop() -> Result<()> {
    let Some(base) = postgres_base_url() else {
        return Ok(());
    };
    let (url, db) = fresh_postgres_url(&base).await?;
    let store = Store::open(&url).await?;
    store.ping().await?;
    drop(db);
    ensure!(store.ping().await.is_err(), "database should be gone");
    ensure!(Store::open(&url).await.is_err(), "database should be gone");
    Ok(())
}

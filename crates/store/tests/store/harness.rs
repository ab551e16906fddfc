//! Shared test plumbing: run a case on each backend, and fixtures.

use std::collections::BTreeMap;
use std::future::Future;

use anyhow::{ensure, Result};
use wicket_store::testing::{fresh_postgres_url, postgres_base_url, sqlite_url};
use wicket_store::{Backend, NewActivation, NewTarget, Store};

pub const NOW: i64 = 1_700_000_000_000;
pub const HOUR: i64 = 3_600_000;

pub async fn on_sqlite<F, Fut>(case: F) -> Result<()>
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let dir = tempfile::tempdir()?;
    let store = Store::open(&sqlite_url(&dir.path().join("wicket.db"))).await?;
    ensure!(store.backend() == Backend::Sqlite);
    let result = case(store.clone()).await;
    store.close().await;
    result
}

pub async fn on_postgres<F, Fut>(case: F) -> Result<()>
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let Some(base) = postgres_base_url() else {
        eprintln!("WICKET_TEST_DATABASE_URL not set; skipping the PostgreSQL run");
        return Ok(());
    };
    let (url, db) = fresh_postgres_url(&base).await?;
    let store = Store::open(&url).await?;
    ensure!(store.backend() == Backend::Postgres);
    let result = case(store.clone()).await;
    store.close().await;
    db.drop_database().await?;
    result
}

/// Declares, in the invoking module, one `#[tokio::test]` per backend for each named case
/// function (`async fn(Store) -> Result<()>`) of that module.
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() -> anyhow::Result<()> {
                crate::harness::on_sqlite(super::$case).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() -> anyhow::Result<()> {
                crate::harness::on_postgres(super::$case).await
            })*
        }
    };
}

pub fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn new_activation(code_hash: &[u8], max: i64) -> NewActivation {
    NewActivation {
        code_hash: code_hash.to_vec(),
        tags: tags(&[("env", "prod")]),
        expires_at: NOW + HOUR,
        max_registrations: max,
        created_by: "usr_admin".into(),
        now: NOW,
    }
}

pub fn new_target(name: &str) -> NewTarget {
    NewTarget {
        name: name.into(),
        public_key: vec![0, 1, 2, 254, 255],
        tags: BTreeMap::new(),
    }
}

pub async fn registrations(store: &Store, id: &str) -> Result<i64> {
    let all = store.list_activations().await?;
    let act = all
        .iter()
        .find(|a| a.id == id)
        .ok_or_else(|| anyhow::anyhow!("no activation"))?;
    Ok(act.registrations)
}

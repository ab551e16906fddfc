//! Test helpers, compiled for this crate's tests and, with feature `test-util`, for other
//! crates' test suites (the e2e kit).
//!
//! PostgreSQL tests are opt-in through [`TEST_DATABASE_URL_ENV`]. When it is set, every test
//! gets its own database via [`fresh_postgres_url`] so tests can run in parallel without seeing
//! each other's rows; an unreachable server is an error (tests fail rather than silently skip).
//!
//! ```ignore
//! if let Some(base) = wicket_store::testing::postgres_base_url() {
//!     let (url, db) = wicket_store::testing::fresh_postgres_url(&base).await?;
//!     let store = Store::open(&url).await?;
//!     // ... test ...
//!     store.close().await;
//!     db.drop_database().await?; // or just let `db` drop (best effort, blocking)
//! }
//! ```

use std::path::Path;

use sqlx::any::AnyConnectOptions;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Executor};

use crate::StoreError;

/// Environment variable naming a PostgreSQL server to test against, e.g.
/// `postgres://postgres@127.0.0.1:5432/test`. Its database is only used to create and drop
/// per-test databases.
pub const TEST_DATABASE_URL_ENV: &str = "WICKET_TEST_DATABASE_URL";

/// The PostgreSQL base URL from [`TEST_DATABASE_URL_ENV`], if set and non-empty.
pub fn postgres_base_url() -> Option<String> {
    std::env::var(TEST_DATABASE_URL_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// A `sqlite://` URL for a database file at `path` (which should be absolute, e.g. inside a
/// `tempfile::TempDir`).
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// A per-test PostgreSQL database. Call [`PgTestDb::drop_database`] when done; if the test
/// panics first, `Drop` makes a best-effort attempt (blocking a helper thread briefly).
#[derive(Debug)]
pub struct PgTestDb {
    base_url: String,
    name: String,
    dropped: bool,
}

/// Creates `wicket_t_<16 hex>` on the server at `base` and returns a URL pointing at it, plus
/// the handle that drops it. Fails if the server is unreachable.
pub async fn fresh_postgres_url(base: &str) -> Result<(String, PgTestDb), StoreError> {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| StoreError::Random)?;
    let name = format!("wicket_t_{}", hex::encode(bytes));

    let mut conn = PgConnection::connect(base).await?;
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    conn.close().await?;

    let mut url = base.parse::<AnyConnectOptions>()?.database_url;
    url.set_path(&format!("/{name}"));
    let handle = PgTestDb {
        base_url: base.to_owned(),
        name,
        dropped: false,
    };
    Ok((url.to_string(), handle))
}

impl PgTestDb {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database, disconnecting any remaining sessions (`WITH (FORCE)`, PG 13+).
    pub async fn drop_database(mut self) -> Result<(), StoreError> {
        self.dropped = true;
        drop_db(&self.base_url, &self.name).await
    }
}

async fn drop_db(base: &str, name: &str) -> Result<(), StoreError> {
    let mut conn = PgConnection::connect(base).await?;
    conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await?;
    conn.close().await?;
    Ok(())
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (base, name) = (self.base_url.clone(), self.name.clone());
        // Drop cannot await, and may run inside a runtime, so use a private runtime on a
        // helper thread.
        let worker = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(drop_db(&base, &name));
            }
        });
        let _ = worker.join();
    }
}

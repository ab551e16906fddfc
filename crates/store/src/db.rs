//! Opening the database, running migrations, and the small helpers every table module shares.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::AnyPool;
use sqlx::{ConnectOptions, Connection, Executor};

use crate::StoreError;

/// Which database engine a [`Store`] talks to; chosen by the URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Handle to the database. Cloning is cheap: clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// What it was opened with, so a test can open a second, independent handle (another
    /// server process, as far as the database can tell). Never logged: it may hold a password.
    url: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// How long a SQLite connection waits for another writer before giving up with SQLITE_BUSY.
/// Writes are short, so waiting beats failing a request.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

impl Store {
    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    ///
    /// Accepted forms: `sqlite:///abs/path.db`, `sqlite://relative.db` (the file is created if
    /// missing and switched to WAL mode so readers never block the writer), `sqlite::memory:`
    /// (one connection, for experiments), and `postgres://...` / `postgresql://...`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let pool = match backend {
            Backend::Sqlite => open_sqlite(url).await?,
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(10)
                    .connect(url)
                    .await?
            }
        };
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        Ok(Store {
            pool,
            backend,
            url: url.to_owned(),
        })
    }

    /// The URL this store was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Reads the audit chain's head, for readiness probes: a real row of a real table, so a
    /// database that answers `SELECT 1` but can no longer read its pages is not "ready".
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.pool
            .execute("SELECT seq, hash FROM audit_head WHERE id = 1")
            .await?;
        Ok(())
    }

    /// Closes every pooled connection; later calls fail. Tests use it before dropping their
    /// database.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// `sqlx::Any` only accepts a URL, and SQLite URLs cannot ask for WAL, so the file is first
/// created and switched to WAL with the native driver (WAL is persistent in the file), then the
/// pool is opened on the same URL.
async fn open_sqlite(url: &str) -> Result<AnyPool, StoreError> {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if !in_memory {
        private_files(SqliteConnectOptions::from_str(url)?.get_filename())?;
        // Opening reads the schema, so a file damaged where SQLite reads first fails here,
        // before the quick check: it gets the same message.
        let mut conn = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .connect()
            .await
            .map_err(|e| damaged_or(e, url))?;
        conn.execute("SELECT 1")
            .await
            .map_err(|e| damaged_or(e, url))?;
        quick_check(&mut conn, url).await?;
        conn.close().await?;
    }
    let busy = format!("PRAGMA busy_timeout = {}", SQLITE_BUSY_TIMEOUT.as_millis());
    let mut options = AnyPoolOptions::new().after_connect(move |conn, _meta| {
        let busy = busy.clone();
        Box::pin(async move {
            conn.execute(busy.as_str()).await?;
            conn.execute("PRAGMA foreign_keys = ON").await?;
            Ok(())
        })
    });
    if in_memory {
        // Each new connection would get its own empty in-memory database, so keep exactly one
        // connection alive forever.
        options = options
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
    } else {
        options = options.max_connections(8);
    }
    Ok(options.connect(url).await?)
}

/// Makes the database file private to this user (mode 0600), creating it so if missing, before
/// SQLite opens it: SQLite gives its `-wal` and `-shm` files the database file's mode, and the
/// database holds password hashes and TOTP secrets. Existing files of an older install are
/// tightened too.
fn private_files(db: &std::path::Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let private = std::fs::Permissions::from_mode(0o600);
    let io = |e: std::io::Error| {
        StoreError::Database(sqlx::Error::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", db.display()),
        )))
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(db)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::set_permissions(db, private.clone()).map_err(io)?
        }
        Err(e) => return Err(io(e)),
    }
    for suffix in ["-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::set_permissions(&p, private.clone()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
    }
    Ok(())
}

/// SQLite's `quick_check`: every page reachable, every b-tree well formed (it skips only the
/// index-content comparison of a full `integrity_check`, and reads the file once). A damaged
/// file (truncated by a bad copy, overwritten in the middle) must stop the server at start,
/// not answer "database disk image is malformed" to whoever comes first, or worse serve a
/// database missing part of its audit chain.
async fn quick_check(conn: &mut sqlx::SqliteConnection, url: &str) -> Result<(), StoreError> {
    use sqlx::Row;
    let damaged = |detail: String| damaged(url, &detail);
    let rows = match sqlx::query("PRAGMA quick_check(5)")
        .fetch_all(&mut *conn)
        .await
    {
        Ok(rows) => rows,
        Err(e) => return Err(damaged(e.to_string())),
    };
    let problems: Vec<String> = rows
        .iter()
        .filter_map(|r| r.try_get::<String, _>(0).ok())
        .filter(|line| line != "ok")
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(damaged(problems.join("; ")))
    }
}

/// The message for a damaged SQLite file, with what to do.
fn damaged(url: &str, detail: &str) -> StoreError {
    StoreError::Damaged(format!(
        "the database {url} is damaged ({detail}). wicketd will not start on it: restore it \
         from a backup, or move it aside to start with an empty one"
    ))
}

/// `e`, or [`StoreError::Damaged`] when SQLite says the file is corrupt (`SQLITE_CORRUPT`,
/// 11, and its extended codes) or not a database at all (`SQLITE_NOTADB`, 26).
fn damaged_or(e: sqlx::Error, url: &str) -> StoreError {
    let corrupt = e
        .as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<u32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 11 | 26));
    if corrupt {
        let detail = e
            .as_database_error()
            .map(|d| d.message().to_string())
            .unwrap_or_default();
        damaged(url, &detail)
    } else {
        e.into()
    }
}

/// A fresh id: `prefix` + `_` + 16 random hex characters (64 bits), e.g. `usr_0f3a…`.
pub(crate) fn new_id(prefix: &str) -> Result<String, StoreError> {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| StoreError::Random)?;
    Ok(format!("{prefix}_{}", hex::encode(bytes)))
}

/// Compares secrets without an early exit, so response timing does not reveal how many leading
/// bytes of a guessed code were right.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

pub(crate) fn decode_hex(column: &'static str, value: &str) -> Result<Vec<u8>, StoreError> {
    hex::decode(value).map_err(|e| StoreError::Corrupt {
        column,
        reason: e.to_string(),
    })
}

pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    column: &'static str,
    value: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(value).map_err(|e| StoreError::Corrupt {
        column,
        reason: e.to_string(),
    })
}

pub(crate) fn encode_json<T: serde::Serialize>(
    column: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        column,
        reason: e.to_string(),
    })
}

/// True when `err` is a UNIQUE constraint violation (both backends report it the same way
/// through `sqlx::Any`, which passes the native database error through).
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Booleans are BIGINT 0/1 in both schemas: `sqlx::Any` decodes `bool` only from a native
/// boolean, which SQLite does not have.
pub(crate) fn flag(value: bool) -> i64 {
    i64::from(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_compares_content_and_length() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn ids_have_prefix_and_16_hex_chars() {
        let id = new_id("usr").unwrap();
        assert_eq!(id.len(), 4 + 16);
        assert!(id.starts_with("usr_"));
        assert!(id[4..].chars().all(|c| c.is_ascii_hexdigit()));
    }
}

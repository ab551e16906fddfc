//! Error types. `StoreError` is for callers that map failures to HTTP statuses; the
//! `RegisterError` variants are meant to be shown to an agent operator as they are.

/// A storage failure, or a constraint the caller should report (such as a duplicate name).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint was hit, e.g. a user name that already exists.
    #[error("{0}")]
    Conflict(String),
    /// An update targeted a row that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The URL is neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error("unsupported database url {0:?}: expected sqlite://... or postgres://...")]
    UnsupportedUrl(String),
    /// A stored value could not be decoded (bad hex or JSON): the database was edited by hand
    /// or by an incompatible version.
    #[error("corrupt value in column {column}: {reason}")]
    Corrupt {
        column: &'static str,
        reason: String,
    },
    /// The database file failed SQLite's integrity check, or its audit chain's head does not
    /// match the chain: it was damaged (a truncated copy, a bad disk) or edited. The message
    /// says what to do; the server refuses to start on it.
    #[error("{0}")]
    Damaged(String),
    /// The system random generator failed while generating an id.
    #[error("random number generator failed")]
    Random,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Why an agent could not be registered with an activation code.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("activation not found")]
    NotFound,
    #[error("activation code is wrong")]
    WrongCode,
    #[error("activation has expired")]
    Expired,
    /// Carries the activation's registration limit so the message can state it.
    #[error("activation has reached its registration limit ({0})")]
    Exhausted(i64),
    #[error("a target named {0:?} already exists")]
    NameTaken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RegisterError {
    fn from(e: sqlx::Error) -> Self {
        RegisterError::Store(StoreError::Database(e))
    }
}

//! The storage error type. Every variant says what a person can do about it.

use std::path::PathBuf;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://USER@HOST:PORT/DB")]
    BadUrl(String),
    #[error("cannot reach the database at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the data directory {0} is not writable; fix its permissions or choose another with --data-dir")]
    ReadOnly(PathBuf),
    #[error(
        "the database schema is at version {found}, newer than this binary knows ({known}); \
         refusing to start: run the newer Palisade release or restore a backup taken before the upgrade"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(&'static str),
    /// Too many of something in a short time (reports, say): try again later.
    #[error("too many {0} in a short time; try again later")]
    RateLimited(&'static str),
    #[error("object storage: {0}")]
    Objects(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl StoreError {
    /// True when the database refused a write because of a unique constraint.
    #[must_use]
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }

    /// True for faults of the database itself (down, timed out) rather than of the request.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unreachable { .. }
                | StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed)
        )
    }
}

/// Maps a unique-constraint violation to a [`StoreError::Conflict`] with a readable message.
pub(crate) fn conflict_on_unique(e: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match e {
        sqlx::Error::Database(ref d) if d.is_unique_violation() => StoreError::Conflict(what()),
        other => StoreError::Database(other),
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

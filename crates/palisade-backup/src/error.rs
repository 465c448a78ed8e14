//! The backup error type. Every variant names what was being done and what a person can do about it.

use std::path::PathBuf;

/// Why a backup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backup target `{target}`: {reason}")]
    Target { target: String, reason: String },
    #[error("the backup repository at {0} has no config.json: it is not a Palisade backup repository (or is damaged)")]
    NotARepository(String),
    #[error(
        "this repository was created by another installation (its chunk key does not match this master key); \
         use a separate target per installation"
    )]
    ForeignRepository,
    #[error("snapshot `{0}` not found (see `palisade backup list`)")]
    NoSuchSnapshot(String),
    #[error("no restore identity: {0}")]
    NoIdentity(String),
    #[error("cannot decrypt {what}: {reason} (is this the identity that matches the repository's recipients?)")]
    Decrypt { what: String, reason: String },
    #[error("key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("chunk {chunk} of {file}: {problem}")]
    BadChunk { chunk: String, file: String, problem: String },
    #[error("the restore target is not empty ({0}); pass --force to replace it")]
    TargetNotEmpty(String),
    #[error("the restore target holds tables that are not Palisade's ({0}); restore into an empty database or schema")]
    TargetForeign(String),
    #[error(
        "snapshot schema version {snapshot} is newer than this binary's ({binary}); restore with the release that \
         took it or a newer one"
    )]
    SchemaTooNew { snapshot: i64, binary: i64 },
    #[error("{0}")]
    Invalid(String),
    #[error("damaged snapshot manifest {id}: {reason}")]
    BadManifest { id: String, reason: String },
    #[error("export archive: {0}")]
    Archive(String),
    /// The archive would change data the importing member may not change (its `table`, guarded by `permission`).
    #[error(
        "this archive changes {table}, which needs the \"{}\" permission; ask someone who holds it to import it",
        permission.title()
    )]
    Forbidden { table: String, permission: palisade_store::permissions::Permission },
    /// Erasure tombstones could not be read or re-applied: the restore is not committed as finished.
    #[error("re-applying erasures: {0}")]
    Erasure(String),
    #[error(transparent)]
    Store(#[from] palisade_store::StoreError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl BackupError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BackupError {
        let path = path.into();
        move |source| BackupError::Io { path, source }
    }

    /// A short stable code for logs, job results and the API.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            BackupError::Target { .. } => "backup.target",
            BackupError::NotARepository(_) => "backup.not_a_repository",
            BackupError::ForeignRepository => "backup.foreign_repository",
            BackupError::NoSuchSnapshot(_) => "backup.no_such_snapshot",
            BackupError::NoIdentity(_) => "backup.no_identity",
            BackupError::Decrypt { .. } => "backup.decrypt",
            BackupError::KeyFile { .. } => "backup.key_file",
            BackupError::BadChunk { .. } => "backup.bad_chunk",
            BackupError::TargetNotEmpty(_) => "backup.target_not_empty",
            BackupError::TargetForeign(_) => "backup.target_foreign",
            BackupError::SchemaTooNew { .. } => "backup.schema_too_new",
            BackupError::Invalid(_) => "backup.invalid",
            BackupError::BadManifest { .. } => "backup.bad_manifest",
            BackupError::Archive(_) => "backup.archive",
            BackupError::Forbidden { .. } => "backup.forbidden",
            BackupError::Erasure(_) => "backup.erasure",
            BackupError::Store(_) | BackupError::Database(_) => "backup.database",
            BackupError::Io { .. } => "backup.io",
        }
    }
}

pub type Result<T, E = BackupError> = std::result::Result<T, E>;

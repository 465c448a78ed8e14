//! Schema migrations: one set per backend, same numbering, applied automatically at start.
//!
//! A database whose schema is newer than this binary (someone ran a newer release against it) is refused
//! rather than half-understood.

use sqlx::migrate::Migrator;

use crate::db::{Backend, Db};
use crate::error::{Result, StoreError};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

fn migrator(backend: Backend) -> &'static Migrator {
    match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    }
}

/// The newest schema version this binary knows.
#[must_use]
pub fn known_version(backend: Backend) -> i64 {
    migrator(backend).iter().map(|m| m.version).max().unwrap_or(0)
}

/// What [`run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub from: Option<i64>,
    pub to: i64,
}

impl MigrationReport {
    #[must_use]
    pub fn changed(&self) -> bool {
        self.from != Some(self.to)
    }
}

/// Whether the schema has sqlx's migration table (ours, or another sqlx application's).
async fn has_migration_table(db: &Db) -> Result<bool> {
    let exists_sql = match db.backend() {
        Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
        }
    };
    let (exists,): (i64,) = sqlx::query_as(exists_sql).fetch_one(db.pool()).await?;
    Ok(exists > 0)
}

/// The highest applied migration version, or `None` for an empty database.
pub async fn applied_version(db: &Db) -> Result<Option<i64>> {
    if !has_migration_table(db).await? {
        return Ok(None);
    }
    let (v,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE").fetch_one(db.pool()).await?;
    Ok(v)
}

/// Whether the applied migrations recorded in the database are Palisade's: every one this binary knows has the
/// checksum of its own file (another sqlx application has a `_sqlx_migrations` table too), and versions newer than
/// this binary count only after all of ours; `None` when there is no migration table.
pub async fn history_is_ours(db: &Db) -> Result<Option<bool>> {
    if !has_migration_table(db).await? {
        return Ok(None);
    }
    let rows: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations").fetch_all(db.pool()).await?;
    let known = migrator(db.backend());
    let newest = known_version(db.backend());
    let ours =
        |version: i64, checksum: &[u8]| known.iter().any(|m| m.version == version && m.checksum.as_ref() == checksum);
    // Every recorded version up to our newest must be one of ours, file for file; our first must be there; and a
    // version past our newest (a newer release's) is believed only when all of ours are there before it —
    // timestamp-numbered migrations of another application are all "newer" than ours.
    let within_ours = rows.iter().filter(|(v, _)| *v <= newest).all(|(v, c)| ours(*v, c));
    let has_first =
        known.iter().map(|m| m.version).min().is_some_and(|first| rows.iter().any(|(v, c)| *v == first && ours(*v, c)));
    let beyond = rows.iter().any(|(v, _)| *v > newest);
    let all_ours_present = known.iter().all(|m| rows.iter().any(|(v, c)| *v == m.version && ours(*v, c)));
    Ok(Some(within_ours && has_first && (!beyond || all_ours_present)))
}

/// A migration this binary knows that the database has not applied yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMigration {
    /// Its number (the file name's prefix).
    pub version: i64,
    /// Its name (the rest of the file name).
    pub description: String,
}

/// The migrations [`run`] would apply, in order, without applying them (`palisade migrate --check`); every one on
/// an empty database. Refuses a schema newer than this binary, as [`run`] does.
pub async fn pending(db: &Db) -> Result<Vec<PendingMigration>> {
    let known = known_version(db.backend());
    let applied: Vec<i64> = if has_migration_table(db).await? {
        let rows: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = TRUE").fetch_all(db.pool()).await?;
        rows.into_iter().map(|(v,)| v).collect()
    } else {
        Vec::new()
    };
    if let Some(found) = applied.iter().copied().max()
        && found > known
    {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    let mut out: Vec<PendingMigration> = migrator(db.backend())
        .iter()
        .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
        .map(|m| PendingMigration { version: m.version, description: m.description.to_string() })
        .collect();
    out.sort_by_key(|m| m.version);
    Ok(out)
}

/// Applies pending migrations; refuses a schema newer than this binary.
///
/// On PostgreSQL sqlx takes an advisory lock, so several nodes starting at once migrate exactly once.
pub async fn run(db: &Db) -> Result<MigrationReport> {
    let known = known_version(db.backend());
    let from = applied_version(db).await?;
    if let Some(found) = from
        && found > known
    {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    migrator(db.backend()).run(db.pool()).await.map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(MigrationReport { from, to: known })
}

/// Applies migrations up to `version` only: a restore loads a snapshot into the schema it was taken with, then
/// [`run`] brings it up to date, so data moves through the same migrations a live upgrade would apply.
pub async fn run_to(db: &Db, version: i64) -> Result<()> {
    let known = known_version(db.backend());
    if version > known {
        return Err(StoreError::SchemaTooNew { found: version, known });
    }
    migrator(db.backend()).run_to(version, db.pool()).await.map_err(|e| StoreError::Migration(e.to_string()))
}

/// Fails unless the schema is exactly the one this binary was built for (used by `config check` and `/readyz`).
pub async fn check_current(db: &Db) -> Result<()> {
    let known = known_version(db.backend());
    match applied_version(db).await? {
        Some(v) if v == known => Ok(()),
        Some(found) if found > known => Err(StoreError::SchemaTooNew { found, known }),
        Some(v) => {
            Err(StoreError::Migration(format!("schema is at version {v}, expected {known}: run `palisade migrate`")))
        }
        None => Err(StoreError::Migration("the database is empty: run `palisade migrate`".into())),
    }
}

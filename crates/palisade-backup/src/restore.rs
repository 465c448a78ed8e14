//! Restoring a snapshot into a new installation: an empty database (SQLite or PostgreSQL, whichever the snapshot
//! came from), an objects store and the master key file.
//!
//! The database is loaded in one transaction at the snapshot's schema version, each table's rows and checksum are
//! compared with the sealed facts (as read back from the target database), and only then is it committed and
//! migrated to this binary's version. A chunk that fails any check stops the restore with its name.

use std::collections::BTreeSet;
use std::path::Path;

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use palisade_store::{Backend, Db, Objects, migrate};
use serde::Serialize;
use sqlx::{AnyConnection, Connection};

use crate::dump;
use crate::error::{BackupError, Result};
use crate::format::{FileEntry, Manifest, TableFacts};
use crate::indexes;
use crate::keys::{ChunkKey, Identity, write_private};
use crate::load::{self, Piece, TableLoader};
use crate::progress::{Progress, Unit};
use crate::read::{Ahead, Opener, read_chunk};
use crate::repo::Repository;
use crate::verify::open_facts;
use palisade_commerce::erasure::{self, Tombstone};

/// Chunks (or objects) fetched, decrypted and prepared ahead of the one being used: enough to keep both cores of
/// a small machine busy while the database loads, few enough that memory stays small (chunks are at most 1 MiB).
const PREFETCH: usize = 4;

/// Object bytes being restored at once, beyond the first object.
const OBJECT_BYTES_AHEAD: u64 = 32 * 1024 * 1024;

/// Where to restore to.
pub struct RestoreTarget<'a> {
    pub db: &'a Db,
    pub objects: &'a Objects,
    pub master_key_file: &'a Path,
    /// Replace a non-empty database (and an existing master key file).
    pub force: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreReport {
    pub snapshot: String,
    pub tables: u64,
    pub rows: u64,
    pub objects: u64,
    pub bytes: u64,
    pub schema_from: i64,
    pub schema_to: i64,
    /// Erasure tombstones in the restored database (the snapshot's, the target's and any carried ones), and how
    /// many erased accounts the snapshot held again and were erased again.
    pub tombstones: u64,
    pub erasures_reapplied: u64,
    /// Tombstones read from the repository (`tombstones/`): erasures made after the snapshot was taken, which a
    /// restore into a new directory has nowhere else to learn from.
    pub repository_tombstones: u64,
}

/// Restores `manifest` into `target`.
///
/// Erasures survive it: the repository's tombstones (`crate::tombstones`, written by every snapshot run and after
/// every erasure) and the target's own are read before it is replaced, and once the snapshot is loaded and
/// migrated every tombstone (the snapshot's, the repository's, the target's) is re-applied in the same run, so an
/// older snapshot cannot bring an erased person back, even into a new directory after the live database is lost
/// (`palisade_commerce::erasure::reapply`). A failure there — a tombstone object that cannot be read included —
/// fails the restore like any other step.
pub async fn restore(
    repo: &Repository,
    manifest: &Manifest,
    identity: &Identity,
    target: RestoreTarget<'_>,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    restore_carrying(repo, manifest, identity, target, &[], progress).await
}

/// [`restore`], also re-applying `carried` tombstones (e.g. the live installation's, when a drill restores into
/// scratch space or a restore goes into a new directory).
pub async fn restore_carrying(
    repo: &Repository,
    manifest: &Manifest,
    identity: &Identity,
    target: RestoreTarget<'_>,
    carried: &[Tombstone],
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let key = repo.chunk_key(identity).await?;
    let facts = open_facts(manifest, identity)?;
    let db = target.db;
    let binary = migrate::known_version(db.backend());
    if manifest.schema_version > binary {
        return Err(BackupError::SchemaTooNew { snapshot: manifest.schema_version, binary });
    }
    let found = Inventory::read(db).await?;
    if !found.is_empty() && migrate::history_is_ours(db).await? != Some(true) {
        // Not Palisade's (no migration history, or another application's): never dropped, not even with --force.
        let named: Vec<String> = found.tables.iter().chain(&found.functions).take(5).cloned().collect();
        return Err(BackupError::TargetForeign(named.join(", ")));
    }
    if let Some(what) = non_empty(db).await?
        && !target.force
    {
        return Err(BackupError::TargetNotEmpty(what));
    }
    if target.master_key_file.exists() && !target.force {
        return Err(BackupError::TargetNotEmpty(format!("{} exists", target.master_key_file.display())));
    }
    // Erasures recorded in the repository (read before anything is touched: an unreadable one stops the restore
    // here), and those made in the database being replaced, must outlive it.
    let mut carried = carried.to_vec();
    let from_repository = crate::tombstones::read(repo, identity, &key).await?;
    let repository_tombstones = from_repository.len() as u64;
    carried.extend(from_repository);
    if !found.is_empty() {
        carried.extend(erasure::tombstones(db).await.map_err(|e| BackupError::Erasure(e.to_string()))?);
    }
    // An empty (or, with --force, a replaced) Palisade schema goes whole: the snapshot's own version is built
    // from the migrations.
    drop_all(db, &found).await?;
    let before = Inventory::read(db).await?;
    let key_existed = target.master_key_file.exists();
    let filled = match migrate::run_to(db, manifest.schema_version).await {
        Ok(()) => fill(repo, manifest, identity, &key, &facts.tables, &target, &carried, progress).await,
        Err(e) => Err(e.into()),
    };
    match filled {
        Ok(report) => Ok(RestoreReport { repository_tombstones, ..report }),
        Err(e) => {
            // A half-restored installation must not be mistaken for a good one: what this run created goes again
            // (only that: anything found in the target before stays). Objects already written stay; nothing
            // refers to them.
            let undo = async {
                let created = Inventory::read(db).await?.minus(&before);
                drop_all(db, &created).await?;
                if !key_existed && target.master_key_file.exists() {
                    std::fs::remove_file(target.master_key_file).map_err(BackupError::io(target.master_key_file))?;
                }
                Ok::<(), BackupError>(())
            };
            if let Err(undo) = undo.await {
                tracing::warn!(error = %undo, "the failed restore's rows could not be removed");
            }
            Err(e)
        }
    }
}

/// Loads the database, the objects and the key file of `manifest` into an empty, migrated target.
#[allow(clippy::too_many_arguments, reason = "the restore's inputs, named at its one call site")]
async fn fill(
    repo: &Repository,
    manifest: &Manifest,
    identity: &Identity,
    key: &ChunkKey,
    tables: &[TableFacts],
    target: &RestoreTarget<'_>,
    carried: &[Tombstone],
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let db = target.db;
    let binary = migrate::known_version(db.backend());
    let mut report = RestoreReport {
        snapshot: manifest.id.clone(),
        schema_from: manifest.schema_version,
        schema_to: binary,
        ..RestoreReport::default()
    };
    let opener = &Opener::new(identity, key);
    progress.phase(
        "database",
        Some(manifest.files.iter().filter(|f| f.path.starts_with("db/")).map(|f| f.size).sum()),
        Unit::Bytes,
    );
    load_database(repo, manifest, opener, key, db, tables, &mut report, progress).await?;

    let objects: Vec<&FileEntry> = manifest.files.iter().filter(|f| f.path.starts_with("objects/")).collect();
    progress.phase("objects", Some(objects.iter().map(|f| f.size).sum()), Unit::Bytes);
    restore_objects(repo, manifest, opener, &objects, target.objects, &mut report, progress).await?;

    migrate::run(db).await?;
    let reapplied = erasure::reapply(db, carried).await.map_err(|e| BackupError::Erasure(e.to_string()))?;
    report.tombstones = reapplied.tombstones;
    report.erasures_reapplied = reapplied.erased_again;
    // The key file last: it exists only when the rest of the installation does.
    if let Some(file) = manifest.files.iter().find(|f| f.path == "keys/master.key") {
        let bytes = read_file(repo, manifest, file, identity, key, progress).await?;
        if let Some(parent) = target.master_key_file.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(BackupError::io(parent))?;
        }
        // The same text format as the installation's key file: 64 hex digits and a newline.
        write_private(target.master_key_file, format!("{}\n", hex::encode(bytes)).as_bytes())?;
    }
    Ok(report)
}

/// Reads a whole (small) file: objects and the master key.
async fn read_file(
    repo: &Repository,
    manifest: &Manifest,
    file: &FileEntry,
    identity: &Identity,
    key: &ChunkKey,
    progress: &dyn Progress,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
    for id in &file.chunks {
        let chunk = describe(manifest, id, &file.path)?;
        out.extend(read_chunk(repo, id, &file.path, chunk, identity, key).await?);
        progress.advance(chunk.size);
    }
    Ok(out)
}

/// Writes the objects, several at a time: each is fetched and opened on worker threads and written by the object
/// store's own blocking tasks, in file order, with at most [`OBJECT_BYTES_AHEAD`] bytes (or one object) in memory.
async fn restore_objects(
    repo: &Repository,
    manifest: &Manifest,
    opener: &Opener,
    files: &[&FileEntry],
    objects: &Objects,
    report: &mut RestoreReport,
    progress: &dyn Progress,
) -> Result<()> {
    let mut ahead: Ahead<u64> = Ahead::default();
    let mut sizes = std::collections::VecDeque::new();
    let mut in_flight = 0u64;
    let mut files = files.iter();
    loop {
        while ahead.len() < PREFETCH && (ahead.is_empty() || in_flight < OBJECT_BYTES_AHEAD) {
            let Some(file) = files.next() else { break };
            let mut pieces: Ahead<Vec<u8>> = Ahead::default();
            for id in &file.chunks {
                pieces.push(opener.spawn(repo, id, &file.path, describe(manifest, id, &file.path)?, Ok));
            }
            let store = objects.store().clone();
            let (path, size) = (file.path.clone(), file.size);
            ahead.push(tokio::spawn(async move {
                let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
                while let Some(piece) = pieces.next().await {
                    bytes.extend(piece?);
                }
                let object_key = path.trim_start_matches("objects/");
                store
                    .put(&ObjectPath::from(object_key), PutPayload::from_bytes(Bytes::from(bytes)))
                    .await
                    .map_err(|e| BackupError::Target { target: "object storage".into(), reason: e.to_string() })?;
                Ok(size)
            }));
            sizes.push_back(size);
            in_flight += size;
        }
        let Some(done) = ahead.next().await else { break };
        let size = done?;
        in_flight -= sizes.pop_front().unwrap_or(size);
        progress.advance(size);
        report.objects += 1;
        report.bytes += size;
    }
    Ok(())
}

fn describe<'m>(manifest: &'m Manifest, id: &str, file: &str) -> Result<&'m crate::format::ChunkRef> {
    manifest.chunks.get(id).ok_or_else(|| BackupError::BadManifest {
        id: manifest.id.clone(),
        reason: format!("{file} refers to an undescribed chunk"),
    })
}

#[allow(clippy::too_many_arguments)]
async fn load_database(
    repo: &Repository,
    manifest: &Manifest,
    opener: &Opener,
    key: &ChunkKey,
    db: &Db,
    facts: &[TableFacts],
    report: &mut RestoreReport,
    progress: &dyn Progress,
) -> Result<()> {
    let backend = db.backend();
    let mut conn = db.pool().acquire().await?;
    if backend == Backend::Sqlite {
        // The target is new (or wiped): nothing to lose if the machine fails mid-restore, so the load does not
        // wait for the disk; the file is synced once at the end.
        sqlx::query("PRAGMA synchronous = OFF").execute(&mut *conn).await?;
        // In WAL mode every page of the load is written twice (to the log, then by the checkpoint) and the
        // read-back check finds each page through the log's index. A rollback journal records only the pages
        // that existed before the transaction, which for a new database is the empty schema: the rows are
        // written once, in place. Leaving WAL needs this to be the only connection to the file (the CLI's
        // restore pool holds one); when it is not, the load stays in WAL mode (slower, equally correct), and
        // does not wait for the others to go.
        let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut *conn).await?;
        sqlx::query("PRAGMA busy_timeout = 0").execute(&mut *conn).await?;
        let mode = sqlx::query_scalar::<_, String>("PRAGMA journal_mode = TRUNCATE").fetch_one(&mut *conn).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {timeout}"))).execute(&mut *conn).await?;
        match mode {
            Ok(mode) => tracing::debug!(journal_mode = %mode, "restore: journal mode for the load"),
            Err(e) => tracing::debug!(error = %e, "restore: other connections are open, the load stays in WAL mode"),
        }
    }
    let result = load_database_on(&mut conn, repo, manifest, opener, key, backend, facts, report, progress).await;
    if backend == Backend::Sqlite {
        if result.is_ok() {
            // The load was not synced: once, now. When it stayed in WAL mode, the rows are in the log first.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").fetch_all(&mut *conn).await?;
            let file: String = sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&mut *conn)
                .await?;
            if !file.is_empty() {
                let path = std::path::PathBuf::from(&file);
                tokio::task::spawn_blocking(move || std::fs::File::open(&file).and_then(|f| f.sync_all()))
                    .await
                    .map_err(|e| BackupError::Invalid(format!("the sync task failed: {e}")))?
                    .map_err(BackupError::io(path))?;
            }
        }
        // This connection's settings were for the load only: it goes, and the pool's next connection puts the
        // file back in WAL mode with the usual settings.
        conn.detach().close().await?;
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn load_database_on(
    conn: &mut AnyConnection,
    repo: &Repository,
    manifest: &Manifest,
    opener: &Opener,
    key: &ChunkKey,
    backend: Backend,
    facts: &[TableFacts],
    report: &mut RestoreReport,
    progress: &dyn Progress,
) -> Result<()> {
    let mut tx = match backend {
        Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => conn.begin().await?,
    };
    let deferred = indexes::set_aside(&mut tx, backend).await?;
    for file in manifest.files.iter().filter(|f| f.path.starts_with("db/")) {
        let mut loader = TableLoader::new(key, backend);
        // Chunks are fetched, decrypted and their lines checked and hashed on worker threads, PREFETCH ahead of
        // the one being inserted. The first chunk holds the header the others are checked against, so the
        // others start once it is in.
        let mut ids = file.chunks.iter();
        let mut ahead: Ahead<(u64, Piece)> = Ahead::default();
        loop {
            let layout = loader.layout();
            while ahead.len() < if layout.is_some() { PREFETCH } else { 1 } {
                let Some(id) = ids.next() else { break };
                let layout = layout.clone();
                ahead.push(opener.spawn(repo, id, &file.path, describe(manifest, id, &file.path)?, move |plain| {
                    Ok((plain.len() as u64, load::prepare(&plain, layout.as_deref())?))
                }));
            }
            let Some(next) = ahead.next().await else { break };
            let (size, piece) = next?;
            progress.advance(size);
            loader.take(&mut tx, piece).await?;
        }
        let (table, stats) = loader.finish(&mut tx).await?;
        let expected = facts.iter().find(|t| t.name == table).ok_or_else(|| {
            BackupError::Archive(format!("table {table} is in the snapshot but not in its sealed facts"))
        })?;
        if stats.rows != expected.rows || stats.checksum.to_hex() != expected.checksum {
            return Err(BackupError::Archive(format!(
                "table {table}: {} rows read, {} expected, or checksum differs: the snapshot is inconsistent",
                stats.rows, expected.rows
            )));
        }
        report.tables += 1;
        report.rows += stats.rows;
    }
    progress.phase("indexes", None, Unit::Nothing);
    indexes::rebuild(&mut tx, &deferred).await?;
    // Read back what the database now holds and compare with what was dumped.
    progress.phase("checking", None, Unit::Nothing);

    let specs = dump::table_specs(&mut tx, backend).await?;
    for expected in facts {
        let spec = specs.iter().find(|s| s.name == expected.name).ok_or_else(|| {
            BackupError::Archive(format!("table {} of the snapshot does not exist in the target schema", expected.name))
        })?;
        let stats = dump::table_facts(&mut tx, backend, spec, key).await?;
        if stats.rows != expected.rows || stats.checksum.to_hex() != expected.checksum {
            return Err(BackupError::Archive(format!(
                "table {}: after loading, the database holds {} rows with checksum {}, the snapshot {} rows with {}",
                expected.name,
                stats.rows,
                stats.checksum.to_hex(),
                expected.rows,
                expected.checksum
            )));
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Names the first table holding rows, if any.
pub async fn non_empty(db: &Db) -> Result<Option<String>> {
    if migrate::applied_version(db).await?.is_none() {
        return Ok(None);
    }
    let mut conn = db.pool().acquire().await?;
    for spec in dump::table_specs(&mut conn, db.backend()).await? {
        let sql = format!("SELECT COUNT(*) FROM {}", dump::quote_ident(&spec.name));
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(&mut *conn).await?;
        if n > 0 {
            return Ok(Some(format!("table {} holds {n} rows", spec.name)));
        }
    }
    Ok(None)
}

/// The tables (and, on PostgreSQL, functions) of the target's schema: read before a restore so that undoing a
/// failed one removes only what it created.
#[derive(Debug, Default)]
struct Inventory {
    tables: BTreeSet<String>,
    functions: BTreeSet<String>,
}

impl Inventory {
    async fn read(db: &Db) -> Result<Inventory> {
        let mut conn = db.pool().acquire().await?;
        let (tables_sql, functions_sql) = match db.backend() {
            // Shadow tables of a virtual table (FTS) go with it; SQLite writes their `CREATE TABLE` with a quoted name.
            Backend::Sqlite => (
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                 AND sql NOT LIKE 'CREATE TABLE ''%'",
                None,
            ),
            // Objects that belong to an extension (pgcrypto's functions, PostGIS's `spatial_ref_sys`) are the
            // extension's, neither foreign data nor ours to drop.
            Backend::Postgres => (
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid \
                 AND d.deptype = 'e')",
                // regprocedure text is a quoted, schema-resolvable signature.
                Some(
                    "SELECT p.oid::regprocedure::text FROM pg_proc p \
                     JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema() \
                     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass \
                     AND d.objid = p.oid AND d.deptype = 'e')",
                ),
            ),
        };
        let tables: Vec<(String,)> = sqlx::query_as(tables_sql).fetch_all(&mut *conn).await?;
        let functions: Vec<(String,)> = match functions_sql {
            Some(sql) => sqlx::query_as(sql).fetch_all(&mut *conn).await?,
            None => Vec::new(),
        };
        Ok(Inventory {
            tables: tables.into_iter().map(|(t,)| t).collect(),
            functions: functions.into_iter().map(|(f,)| f).collect(),
        })
    }

    fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.functions.is_empty()
    }

    fn minus(self, other: &Inventory) -> Inventory {
        Inventory {
            tables: self.tables.into_iter().filter(|t| !other.tables.contains(t)).collect(),
            functions: self.functions.into_iter().filter(|f| !other.functions.contains(f)).collect(),
        }
    }
}

/// Drops the listed tables and functions.
async fn drop_all(db: &Db, what: &Inventory) -> Result<()> {
    if what.is_empty() {
        return Ok(());
    }
    let mut conn = db.pool().acquire().await?;
    match db.backend() {
        Backend::Sqlite => {
            sqlx::query("PRAGMA foreign_keys = OFF").execute(&mut *conn).await?;
            let dropped = async {
                for name in &what.tables {
                    let sql = format!("DROP TABLE IF EXISTS {}", dump::quote_ident(name));
                    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
                }
                Ok::<(), sqlx::Error>(())
            }
            .await;
            sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
            dropped?;
        }
        Backend::Postgres => {
            for name in &what.tables {
                let sql = format!("DROP TABLE IF EXISTS {} CASCADE", dump::quote_ident(name));
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
            }
            for signature in &what.functions {
                let sql = format!("DROP FUNCTION IF EXISTS {signature} CASCADE");
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
            }
        }
    }
    Ok(())
}

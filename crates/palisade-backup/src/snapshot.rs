//! Taking a platform snapshot: the database (logical dump in one read transaction), every object, and the master
//! key, cut into content-defined chunks, compressed, encrypted and stored once per repository.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use palisade_store::{Backend, Db, Objects, migrate};
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

use crate::chunker::Chunker;
use crate::dump::{self, Checksum};
use crate::error::{BackupError, Result};
use crate::format::{ChunkRef, Facts, FileEntry, MANIFEST_FORMAT, Manifest, Origin, TableFacts, Totals};
use crate::keys::{ChunkKey, Recipients};
use crate::progress::{Progress, Unit};
use crate::repo::{PendingMarker, Repository, this_host};
use crate::tracking::{self, SegmentState, State, TableState};

/// zstd level 1: on dump text it compresses as well as the default level 3 (measured: 131.5 vs 137.0 MiB for a
/// 298 MiB snapshot) at two thirds of the CPU time, which bounds backup throughput on small machines.
const ZSTD_LEVEL: i32 = 1;
/// Chunks sealed and uploaded at once.
const IN_FLIGHT: usize = 4;

/// What a snapshot is taken of.
pub struct Sources<'a> {
    pub db: &'a Db,
    pub objects: &'a Objects,
    /// The installation's master key file content (secrets in the database are encrypted with it).
    pub master_key: &'a [u8; 32],
}

/// A new snapshot id, sortable by time.
#[must_use]
pub fn new_id(now_ms: i64) -> String {
    let when = palisade_core::Timestamp(now_ms)
        .to_datetime()
        .map_or_else(|| "00000000T000000Z".to_owned(), |t| t.format("%Y%m%dT%H%M%SZ").to_string());
    let suffix: u32 = rand::random();
    format!("{when}-{suffix:08x}")
}

/// Compresses and encrypts one chunk.
pub fn seal_chunk(recipients: &Recipients, plain: &[u8]) -> Result<Vec<u8>> {
    let compressed = zstd::bulk::compress(plain, ZSTD_LEVEL).map_err(BackupError::io("<zstd>"))?;
    recipients.seal(&compressed)
}

/// Stores chunks not yet in the repository, a few at a time.
struct Uploader<'a> {
    repo: &'a Repository,
    recipients: Arc<Recipients>,
    stored: HashSet<String>,
    /// Chunks already stored and described by an earlier manifest.
    known: HashMap<String, ChunkRef>,
    chunks: BTreeMap<String, ChunkRef>,
    tasks: JoinSet<Result<(String, ChunkRef)>>,
    totals: Totals,
    progress: &'a dyn Progress,
}

impl Uploader<'_> {
    /// Stores a chunk whose id the caller computed (on the blocking pool, see [`FileWriter`]).
    async fn add_named(&mut self, id: String, plain: Vec<u8>) -> Result<String> {
        let size = plain.len() as u64;
        self.totals.chunks += 1;
        self.totals.bytes += size;
        self.progress.advance(size);
        if self.chunks.contains_key(&id) || self.stored.contains(&id) {
            return Ok(id);
        }
        self.stored.insert(id.clone());
        if let Some(chunk) = self.known.get(&id) {
            self.chunks.insert(id.clone(), chunk.clone());
            return Ok(id);
        }
        while self.tasks.len() >= IN_FLIGHT {
            self.join_one().await?;
        }
        let recipients = Arc::clone(&self.recipients);
        let repo = self.repo.clone();
        let task_id = id.clone();
        self.tasks.spawn(async move {
            let sealed = tokio::task::spawn_blocking(move || seal_chunk(&recipients, &plain))
                .await
                .map_err(|e| BackupError::Invalid(format!("sealing task failed: {e}")))??;
            let chunk = ChunkRef {
                size,
                stored_size: sealed.len() as u64,
                stored_sha256: hex::encode(Sha256::digest(&sealed)),
            };
            repo.put_chunk(&task_id, Bytes::from(sealed)).await?;
            Ok((task_id, chunk))
        });
        Ok(id)
    }

    /// Takes content over from the previous snapshot without reading it, when every chunk it lists is stored and
    /// described. Returns whether it did.
    fn reuse(&mut self, chunks: &[String], size: u64) -> bool {
        if !chunks.iter().all(|id| self.known.contains_key(id)) {
            return false;
        }
        for id in chunks {
            if let Some(chunk) = self.known.get(id) {
                self.totals.chunks += 1;
                self.stored.insert(id.clone());
                self.chunks.insert(id.clone(), chunk.clone());
            }
        }
        self.totals.bytes += size;
        self.totals.reused_bytes += size;
        self.progress.advance(size);
        true
    }

    async fn join_one(&mut self) -> Result<()> {
        if let Some(done) = self.tasks.join_next().await {
            let (id, chunk) = done.map_err(|e| BackupError::Invalid(format!("upload task failed: {e}")))??;
            self.totals.new_chunks += 1;
            self.totals.new_stored_bytes += chunk.stored_size;
            self.chunks.insert(id, chunk);
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        while !self.tasks.is_empty() {
            self.join_one().await?;
        }
        Ok(())
    }
}

/// Chunks cut from one piece, each with its id, and the chunker to go on with.
type Cut = (Chunker, Vec<(String, Vec<u8>)>);

/// One logical file being written: its chunker and its chunk list. Cutting and naming a piece (FastCDC and
/// HMAC-SHA256, the CPU-heavy part besides sealing) runs on the blocking pool while the caller produces the next
/// piece (the database dump), so the two overlap on separate cores.
struct FileWriter {
    path: String,
    size: u64,
    /// Where the current part starts (see [`FileWriter::cut`]): index in `chunks`, and byte offset.
    part_chunk: usize,
    part_size: u64,
    chunker: Option<Chunker>,
    pending: Option<tokio::task::JoinHandle<Cut>>,
    key: Arc<ChunkKey>,
    chunks: Vec<String>,
}

impl FileWriter {
    fn new(path: impl Into<String>, key: &Arc<ChunkKey>) -> FileWriter {
        FileWriter {
            path: path.into(),
            size: 0,
            part_chunk: 0,
            part_size: 0,
            chunker: Some(Chunker::new()),
            pending: None,
            key: Arc::clone(key),
            chunks: Vec::new(),
        }
    }

    async fn collect(&mut self, up: &mut Uploader<'_>) -> Result<()> {
        if let Some(job) = self.pending.take() {
            let (chunker, named) = job.await.map_err(|e| BackupError::Invalid(format!("chunking task failed: {e}")))?;
            self.chunker = Some(chunker);
            for (id, plain) in named {
                self.chunks.push(up.add_named(id, plain).await?);
            }
        }
        Ok(())
    }

    async fn write(&mut self, up: &mut Uploader<'_>, data: &[u8]) -> Result<()> {
        self.size += data.len() as u64;
        self.collect(up).await?;
        let mut chunker = self.chunker.take().unwrap_or_default();
        let data = data.to_vec();
        let key = Arc::clone(&self.key);
        self.pending = Some(tokio::task::spawn_blocking(move || {
            let named = name_chunks(&key, chunker.push(&data));
            (chunker, named)
        }));
        Ok(())
    }

    /// Ends the current part of the file at a chunk boundary, so that it can be taken over on its own next time;
    /// returns its chunks and size.
    async fn cut(&mut self, up: &mut Uploader<'_>) -> Result<(Vec<String>, u64)> {
        self.collect(up).await?;
        let chunker = self.chunker.take().unwrap_or_default();
        for (id, plain) in name_chunks(&self.key, chunker.finish()) {
            self.chunks.push(up.add_named(id, plain).await?);
        }
        self.chunker = Some(Chunker::new());
        let part = self.chunks.get(self.part_chunk..).unwrap_or_default().to_vec();
        let size = self.size - self.part_size;
        self.part_chunk = self.chunks.len();
        self.part_size = self.size;
        Ok((part, size))
    }

    /// Appends a part of an earlier snapshot (right after a [`FileWriter::cut`]). Returns false, writing
    /// nothing, when a chunk of it is no longer stored.
    fn take_over(&mut self, up: &mut Uploader<'_>, chunks: &[String], size: u64) -> bool {
        if !up.reuse(chunks, size) {
            return false;
        }
        self.chunks.extend_from_slice(chunks);
        self.size += size;
        self.part_chunk = self.chunks.len();
        self.part_size = self.size;
        true
    }

    async fn finish(mut self, up: &mut Uploader<'_>) -> Result<FileEntry> {
        self.collect(up).await?;
        let chunker = self.chunker.take().unwrap_or_default();
        for (id, plain) in name_chunks(&self.key, chunker.finish()) {
            self.chunks.push(up.add_named(id, plain).await?);
        }
        Ok(FileEntry { path: self.path, size: self.size, chunks: self.chunks })
    }
}

fn name_chunks(key: &ChunkKey, chunks: Vec<Vec<u8>>) -> Vec<(String, Vec<u8>)> {
    chunks.into_iter().map(|c| (hex::encode(key.chunk_id(&c)), c)).collect()
}

/// A table file being dumped into the uploader.
struct FileSink<'f, 'u, 'r> {
    file: &'f mut FileWriter,
    up: &'u mut Uploader<'r>,
}

impl dump::Sink for FileSink<'_, '_, '_> {
    fn write<'a>(&'a mut self, piece: &'a [u8]) -> futures_util::future::BoxFuture<'a, Result<()>> {
        Box::pin(self.file.write(self.up, piece))
    }
}

/// Takes a snapshot into `repo`. The manifest is written last; a run that fails or is killed leaves only
/// unreferenced chunks and a pending marker, both cleaned up by the next run.
pub async fn create(
    repo: &Repository,
    recipients: Arc<Recipients>,
    key: &ChunkKey,
    sources: Sources<'_>,
    origin: Origin,
    progress: &dyn Progress,
) -> Result<Manifest> {
    let db = sources.db;
    let started_at = db.now().millis();
    let id = new_id(started_at);
    let marker = PendingMarker { snapshot_id: id.clone(), started_at, host: this_host(), pid: std::process::id() };
    repo.put_pending(&marker).await?;
    let result = create_inner(repo, Arc::clone(&recipients), key, sources, progress, &id, started_at).await;
    match result {
        Ok((mut manifest, state)) => {
            manifest.origin = origin;
            // Every erasure so far, as its own object, before the manifest: a snapshot that lists as complete has
            // the tombstones a later restore into a new directory must re-apply (`tombstones`). Failing here
            // fails the snapshot.
            if let Err(e) = crate::tombstones::publish_from(db, repo, &recipients, key).await {
                let _ = repo.delete_pending(&id).await;
                return Err(e);
            }
            repo.put_manifest(&manifest).await?;
            repo.delete_pending(&id).await?;
            if let Some(state) = state {
                // Without the record the next snapshot is simply a full one: not a reason to fail this one.
                if let Err(e) = tracking::save(db, &repository_key(repo), &state).await {
                    tracing::warn!(error = %e, "could not record the snapshot's change-tracking state");
                }
            }
            // Chunks of runs that died before writing a manifest are no longer needed.
            repo.collect_garbage(db.now().millis(), None).await?;
            Ok(manifest)
        }
        Err(e) => {
            // Leave the chunks for garbage collection; drop the marker so a retry need not wait.
            let _ = repo.delete_pending(&id).await;
            Err(e)
        }
    }
}

async fn create_inner(
    repo: &Repository,
    recipients: Arc<Recipients>,
    key: &ChunkKey,
    sources: Sources<'_>,
    progress: &dyn Progress,
    id: &str,
    started_at: i64,
) -> Result<(Manifest, Option<State>)> {
    let db = sources.db;
    let backend = db.backend();
    if backend == Backend::Sqlite {
        tracking::install(db).await?;
    }
    progress.phase("indexing repository", None, Unit::Nothing);
    // A chunk counts as stored when it is listed and an earlier manifest describes it; a chunk left by a run that
    // died has no description and is simply stored again.
    let (known, previous_objects) = index_repository(repo).await?;
    let key_for_workers = Arc::new(key.duplicate());
    let mut up = Uploader {
        repo,
        recipients: Arc::clone(&recipients),
        stored: HashSet::new(),
        known,
        chunks: BTreeMap::new(),
        tasks: JoinSet::new(),
        totals: Totals::default(),
        progress,
    };
    let DatabaseDump { mut files, facts, schema_version, state } =
        dump_database(db, repo, key, &key_for_workers, id, &mut up).await?;

    // Objects are immutable and content-addressed: copying them after the dump includes all it refers to.
    let keys = object_keys(sources.objects).await?;
    progress.phase("objects", Some(keys.iter().map(|(_, s)| *s).sum()), Unit::Bytes);
    for (object_key, size) in keys {
        let path = format!("objects/{object_key}");
        // Keys are content addresses (`images/<sha256>`): the same key and size is the same content.
        if content_addressed(&object_key)
            && let Some(entry) = previous_objects.get(&path).filter(|e| e.size == size)
            && up.reuse(&entry.chunks, entry.size)
        {
            files.push(entry.clone());
            up.totals.objects += 1;
            continue;
        }
        let Some(bytes) = sources.objects.get(&object_key).await? else { continue };
        let mut file = FileWriter::new(path, &key_for_workers);
        file.write(&mut up, &bytes).await?;
        files.push(file.finish(&mut up).await?);
        up.totals.objects += 1;
    }

    let mut file = FileWriter::new("keys/master.key", &key_for_workers);
    file.write(&mut up, sources.master_key).await?;
    files.push(file.finish(&mut up).await?);

    progress.phase("finishing uploads", None, Unit::Nothing);
    up.finish().await?;
    // Describe exactly the chunks the files use: a table read again after a count mismatch leaves chunks of its
    // first attempt that no file refers to (they stay unreferenced and garbage collection removes them).
    let referenced: HashSet<&str> = files.iter().flat_map(|f| f.chunks.iter().map(String::as_str)).collect();
    up.chunks.retain(|id, _| referenced.contains(id.as_str()));
    let mut totals = up.totals.clone();
    totals.files = files.len() as u64;
    totals.stored_bytes = up.chunks.values().map(|c| c.stored_size).sum();
    let facts_json = serde_json::to_vec(&facts).map_err(|e| BackupError::Invalid(e.to_string()))?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        id: id.to_owned(),
        started_at,
        finished_at: db.now().millis(),
        host: this_host(),
        source_backend: backend.name().to_owned(),
        schema_version,
        files,
        chunks: up.chunks,
        totals,
        origin: Origin::Scheduled,
        sealed_facts: hex::encode(recipients.seal(&facts_json)?),
    };
    Ok((manifest, state))
}

/// What the database part of a snapshot produced.
struct DatabaseDump {
    files: Vec<FileEntry>,
    facts: Facts,
    schema_version: i64,
    state: Option<State>,
}

/// The database, every table in one read transaction. On SQLite, tables with change tracking take unchanged
/// segments over from the previous snapshot.
async fn dump_database(
    db: &Db,
    repo: &Repository,
    key: &ChunkKey,
    key_for_workers: &Arc<ChunkKey>,
    id: &str,
    up: &mut Uploader<'_>,
) -> Result<DatabaseDump> {
    let backend = db.backend();
    let mut files = Vec::new();
    let mut facts = Facts::default();
    let schema_version = migrate::applied_version(db).await?.unwrap_or(0);
    let mut conn = db.pool().acquire().await?;
    dump::begin_snapshot(&mut conn, backend).await?;
    let specs = dump::table_specs(&mut conn, backend).await?;
    let mut seen = match backend {
        Backend::Sqlite => Some(tracking::read(&mut conn, &repository_key(repo)).await?),
        Backend::Postgres => None,
    };
    let mut state = seen.as_ref().map(|seen| State {
        format: tracking::STATE_FORMAT,
        snapshot: id.to_owned(),
        schema_version: seen.schema_version,
        tables: BTreeMap::new(),
    });
    up.progress.phase("database", None, Unit::Bytes);
    for spec in &specs {
        let path = format!("db/{}.jsonl", spec.name);
        let mut file = FileWriter::new(path.clone(), key_for_workers);
        let stats = match (seen.as_mut(), state.as_mut()) {
            (Some(seen), Some(state)) if spec.rowid => {
                let versions = seen.versions.remove(&spec.name).unwrap_or_default();
                let previous = seen.previous.as_mut().and_then(|p| p.tables.remove(&spec.name));
                let tracked = Tracked { conn: &mut conn, spec, key, versions: &versions };
                let totals = up.totals.clone();
                let (stats, table) = match tracked.dump(&mut file, up, previous.as_ref()).await? {
                    Some(done) => done,
                    None => {
                        // Rows changed without their triggers firing: read the whole table again.
                        up.totals = totals;
                        file = FileWriter::new(path, key_for_workers);
                        let tracked = Tracked { conn: &mut conn, spec, key, versions: &versions };
                        tracked.dump(&mut file, up, None).await?.ok_or_else(|| {
                            BackupError::Invalid(format!("table {}: rows changed during the snapshot", spec.name))
                        })?
                    }
                };
                state.tables.insert(spec.name.clone(), table);
                stats
            }
            _ => {
                let mut sink = FileSink { file: &mut file, up };
                dump::dump_table(&mut conn, backend, spec, key, &mut sink).await?
            }
        };
        files.push(file.finish(up).await?);
        up.totals.tables += 1;
        up.totals.rows += stats.rows;
        facts.tables.push(TableFacts { name: spec.name.clone(), rows: stats.rows, checksum: stats.checksum.to_hex() });
    }
    dump::end_snapshot(&mut conn).await?;
    drop(conn);
    Ok(DatabaseDump { files, facts, schema_version, state })
}

/// What earlier snapshots already hold: the chunks that are both stored and described by a manifest (a chunk left
/// by a run that died has no description and is simply stored again), and the newest snapshot's objects by
/// path (an unchanged object is taken over without reading it).
async fn index_repository(repo: &Repository) -> Result<(HashMap<String, ChunkRef>, HashMap<String, FileEntry>)> {
    let present = repo.chunk_ids().await?;
    let mut known = HashMap::new();
    let mut previous_objects: HashMap<String, FileEntry> = HashMap::new();
    let mut newest = i64::MIN;
    for manifest in repo.manifests().await?.into_iter().flatten() {
        if manifest.started_at > newest {
            newest = manifest.started_at;
            previous_objects = manifest
                .files
                .into_iter()
                .filter(|f| f.path.starts_with("objects/"))
                .map(|f| (f.path.clone(), f))
                .collect();
        }
        for (chunk_id, chunk) in manifest.chunks {
            if present.contains(&chunk_id) {
                known.insert(chunk_id, chunk);
            }
        }
    }
    Ok((known, previous_objects))
}

/// The platform's objects to copy, by key with their sizes, sorted.
async fn object_keys(objects: &Objects) -> Result<Vec<(String, u64)>> {
    let mut keys = Vec::new();
    let mut listing = objects.store().list(None);
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|e| BackupError::Target { target: "object storage".into(), reason: e.to_string() })?;
        let key = meta.location.to_string();
        // Merchants' export archives are their own copies (encrypted with their passphrase): not the platform's.
        if key.strip_prefix(crate::store_exports::PREFIX).is_some_and(|rest| rest.starts_with('/')) {
            continue;
        }
        keys.push((key, meta.size));
    }
    keys.sort();
    Ok(keys)
}

/// Names a repository in the change-tracking state: its location, when it was created and its chunk key, so
/// a repository recreated at the same place never matches an old record.
fn repository_key(repo: &Repository) -> String {
    let config = repo.config();
    format!("{}#{}#{}", repo.target(), config.created_at, config.chunk_key_fingerprint)
}

/// A SQLite table dumped segment by segment, taking unchanged segments over from the previous snapshot.
struct Tracked<'c, 'a> {
    conn: &'c mut sqlx::AnyConnection,
    spec: &'a dump::TableSpec,
    key: &'a ChunkKey,
    /// The table's segment versions as of this snapshot.
    versions: &'a HashMap<i64, i64>,
}

impl Tracked<'_, '_> {
    /// Returns `None` when the rows taken over and dumped do not add up to the table's row count (see
    /// [`crate::tracking`]); the caller then dumps the table again without taking anything over.
    async fn dump(
        self,
        file: &mut FileWriter,
        up: &mut Uploader<'_>,
        previous: Option<&TableState>,
    ) -> Result<Option<(dump::DumpStats, TableState)>> {
        let header = dump::header_line(self.spec)?;
        let header_text = String::from_utf8_lossy(&header).into_owned();
        let previous: HashMap<i64, &SegmentState> = previous
            .filter(|p| p.header == header_text)
            .map(|p| p.segments.iter().map(|s| (s.seg, s)).collect())
            .unwrap_or_default();
        file.write(up, &header).await?;
        file.cut(up).await?;
        let hasher = self.key.row_hasher(&self.spec.name);
        let mut stats = dump::DumpStats::default();
        let mut table = TableState { header: header_text, segments: Vec::new() };
        let mut next = dump::next_rowid(self.conn, self.spec, i64::MIN).await?;
        while let Some(rowid) = next {
            let (seg, lo, hi) = tracking::segment_of(rowid);
            let version = self.versions.get(&seg).copied().unwrap_or(0);
            let kept = previous.get(&seg).filter(|p| p.version == version).and_then(|p| {
                let checksum = Checksum::from_hex(&p.checksum)?;
                file.take_over(up, &p.chunks, p.size).then(|| (checksum, (*p).clone()))
            });
            let segment = match kept {
                Some((checksum, segment)) => {
                    stats.rows += segment.rows;
                    stats.checksum.merge(checksum);
                    segment
                }
                None => {
                    let part = {
                        let mut sink = FileSink { file: &mut *file, up: &mut *up };
                        dump::dump_sqlite_segment(self.conn, self.spec, lo, hi, &hasher, &mut sink).await?
                    };
                    let (chunks, size) = file.cut(up).await?;
                    stats.rows += part.rows;
                    stats.checksum.merge(part.checksum);
                    SegmentState { seg, version, rows: part.rows, checksum: part.checksum.to_hex(), size, chunks }
                }
            };
            table.segments.push(segment);
            next = match hi {
                Some(hi) => dump::next_rowid(self.conn, self.spec, hi).await?,
                None => None,
            };
        }
        if dump::count_rows(self.conn, self.spec).await? != stats.rows {
            return Ok(None);
        }
        Ok(Some((stats, table)))
    }
}

/// Whether an object key ends in a SHA-256 content address (how `Objects::put_content` names everything).
fn content_addressed(key: &str) -> bool {
    key.rsplit('/').next().is_some_and(|name| name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()))
}

//! A backup repository on a target (a local directory or an S3-compatible bucket), through `object_store`.
//!
//! Layout under the target:
//! - `config.json`: format, chunker parameters, the chunk-key fingerprint;
//! - `keys/chunk-key.age`: the chunk key, encrypted to the recipients (restore needs it to check chunk ids);
//! - `chunks/<2 hex>/<64 hex>`: zstd-compressed, age-encrypted chunks named by their keyed hash;
//! - `pending/<snapshot id>.json`: a marker written when a run starts and removed when it ends;
//! - `snapshots/<snapshot id>.json`: the manifest, written last in one atomic put. A snapshot exists only if its
//!   manifest does, so a run killed at any moment leaves no snapshot that lists as complete.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{BackupError, Result};
use crate::format::Manifest;
use crate::keys::{ChunkKey, Identity, Recipients};

/// The repository format this code writes and reads.
pub const REPO_FORMAT: &str = "palisade-backup/1";

/// Where a repository lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A local directory (may be a mounted network share).
    Dir(PathBuf),
    /// `s3://bucket/prefix[?endpoint=URL&region=R&allow_http=true]`; credentials come from the standard `AWS_*`
    /// environment (never from the URL, which is shown in logs and the console).
    S3 { bucket: String, prefix: String, options: Vec<(String, String)> },
}

impl Target {
    /// `s3://bucket[/prefix]` or a directory path.
    pub fn parse(text: &str) -> Result<Target> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("s3://") {
            let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
            let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
            if bucket.is_empty() {
                return Err(BackupError::Invalid(format!("`{text}`: the S3 URL names no bucket (s3://BUCKET/PREFIX)")));
            }
            let mut options = Vec::new();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                if !crate::s3::OPTIONS.contains(&k) {
                    return Err(BackupError::Invalid(format!(
                        "`{text}`: unknown S3 option `{k}` (known: {}; credentials go in AWS_* variables)",
                        crate::s3::OPTIONS.join(", ")
                    )));
                }
                options.push((k.to_owned(), v.to_owned()));
            }
            return Ok(Target::S3 { bucket: bucket.to_owned(), prefix: prefix.trim_matches('/').to_owned(), options });
        }
        if text.contains("://") {
            return Err(BackupError::Invalid(format!("`{text}`: a target is a directory path or s3://BUCKET/PREFIX")));
        }
        if text.is_empty() {
            return Err(BackupError::Invalid("an empty backup target".into()));
        }
        Ok(Target::Dir(PathBuf::from(text)))
    }

    /// True when the copy survives the loss of this machine.
    #[must_use]
    pub fn off_machine(&self) -> bool {
        matches!(self, Target::S3 { .. })
    }

    fn open_store(&self) -> Result<Arc<dyn ObjectStore>> {
        match self {
            Target::Dir(dir) => {
                std::fs::create_dir_all(dir).map_err(BackupError::io(dir))?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| BackupError::Target { target: self.to_string(), reason: e.to_string() })?;
                Ok(Arc::new(fs))
            }
            Target::S3 { bucket, prefix, options } => crate::s3::open(bucket, prefix, options)
                .map_err(|reason| BackupError::Target { target: self.to_string(), reason }),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Dir(dir) => write!(f, "{}", dir.display()),
            Target::S3 { bucket, prefix, options } => {
                write!(f, "s3://{bucket}")?;
                if !prefix.is_empty() {
                    write!(f, "/{prefix}")?;
                }
                for (i, (k, v)) in options.iter().enumerate() {
                    write!(f, "{}{k}={v}", if i == 0 { '?' } else { '&' })?;
                }
                Ok(())
            }
        }
    }
}

/// `config.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoConfig {
    pub format: String,
    pub created_at: i64,
    pub chunk_key_fingerprint: String,
    pub chunk_min: u32,
    pub chunk_avg: u32,
    pub chunk_max: u32,
}

/// What a run in progress leaves behind (`pending/<id>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingMarker {
    pub snapshot_id: String,
    pub started_at: i64,
    pub host: String,
    pub pid: u32,
}

/// An open repository.
#[derive(Clone)]
pub struct Repository {
    store: Arc<dyn ObjectStore>,
    target: Target,
    config: RepoConfig,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository").field("target", &self.target.to_string()).finish()
    }
}

fn path(key: &str) -> ObjectPath {
    ObjectPath::from(key)
}

/// Chunk object key for a hex id.
#[must_use]
pub fn chunk_key_path(id: &str) -> String {
    format!("chunks/{}/{id}", id.get(..2).unwrap_or("00"))
}

impl Repository {
    fn err(&self, e: impl std::fmt::Display) -> BackupError {
        BackupError::Target { target: self.target.to_string(), reason: e.to_string() }
    }

    /// Opens the repository at `target`, creating it when it does not exist yet (the node's first backup).
    pub async fn open_or_init(
        target: &Target,
        recipients: &Recipients,
        key: &ChunkKey,
        now: i64,
    ) -> Result<Repository> {
        let store = target.open_store()?;
        match read_config(&store, target).await? {
            Some(config) => {
                let repo = Repository { store, target: target.clone(), config };
                repo.check_key(key)?;
                Ok(repo)
            }
            None => {
                let config = RepoConfig {
                    format: REPO_FORMAT.into(),
                    created_at: now,
                    chunk_key_fingerprint: key.fingerprint(),
                    chunk_min: crate::chunker::MIN_SIZE,
                    chunk_avg: crate::chunker::AVG_SIZE,
                    chunk_max: crate::chunker::MAX_SIZE,
                };
                let repo = Repository { store, target: target.clone(), config };
                // The sealed key goes first: a config without its key would be a repository no one can restore.
                repo.put("keys/chunk-key.age", recipients.seal(key.bytes())?.into()).await?;
                let json = serde_json::to_vec_pretty(&repo.config).map_err(|e| BackupError::Invalid(e.to_string()))?;
                repo.put("config.json", json.into()).await?;
                Ok(repo)
            }
        }
    }

    /// Opens an existing repository (read side: list, verify, restore).
    pub async fn open(target: &Target) -> Result<Repository> {
        let store = target.open_store()?;
        let config =
            read_config(&store, target).await?.ok_or_else(|| BackupError::NotARepository(target.to_string()))?;
        if config.format != REPO_FORMAT {
            return Err(BackupError::Invalid(format!(
                "repository format `{}` is not `{REPO_FORMAT}`; use the matching Palisade release",
                config.format
            )));
        }
        Ok(Repository { store, target: target.clone(), config })
    }

    fn check_key(&self, key: &ChunkKey) -> Result<()> {
        if key.matches(&self.config.chunk_key_fingerprint) { Ok(()) } else { Err(BackupError::ForeignRepository) }
    }

    #[must_use]
    pub fn target(&self) -> &Target {
        &self.target
    }

    #[must_use]
    pub fn config(&self) -> &RepoConfig {
        &self.config
    }

    /// The chunk key, read from the repository with the restore identity.
    pub async fn chunk_key(&self, identity: &Identity) -> Result<ChunkKey> {
        let sealed = self
            .get("keys/chunk-key.age")
            .await?
            .ok_or_else(|| BackupError::NotARepository(format!("{} (keys/chunk-key.age is missing)", self.target)))?;
        let plain = identity.open(&sealed, "the repository's chunk key")?;
        let key = ChunkKey::from_bytes(&plain).ok_or_else(|| BackupError::Decrypt {
            what: "the repository's chunk key".into(),
            reason: "it is not 32 bytes".into(),
        })?;
        if !key.matches(&self.config.chunk_key_fingerprint) {
            return Err(BackupError::Decrypt {
                what: "the repository's chunk key".into(),
                reason: "its fingerprint does not match config.json".into(),
            });
        }
        Ok(key)
    }

    pub(crate) async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        self.store.put(&path(key), PutPayload::from_bytes(bytes)).await.map_err(|e| self.err(e))?;
        Ok(())
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        match self.store.get(&path(key)).await {
            Ok(got) => Ok(Some(got.bytes().await.map_err(|e| self.err(e))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Keys and sizes under a prefix.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let mut stream = self.store.list(Some(&path(prefix)));
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| self.err(e))?;
            out.push((meta.location.to_string(), meta.size));
        }
        Ok(out)
    }

    /// Ids of every chunk stored (for deduplication and garbage collection).
    pub async fn chunk_ids(&self) -> Result<HashSet<String>> {
        Ok(self
            .list("chunks")
            .await?
            .into_iter()
            .filter_map(|(k, _)| k.rsplit('/').next().map(str::to_owned))
            .filter(|id| id.len() == 64)
            .collect())
    }

    pub async fn put_chunk(&self, id: &str, sealed: Bytes) -> Result<()> {
        self.put(&chunk_key_path(id), sealed).await
    }

    pub async fn get_chunk(&self, id: &str) -> Result<Option<Bytes>> {
        self.get(&chunk_key_path(id)).await
    }

    pub async fn put_manifest(&self, manifest: &Manifest) -> Result<()> {
        let json = serde_json::to_vec_pretty(manifest).map_err(|e| BackupError::Invalid(e.to_string()))?;
        self.put(&format!("snapshots/{}.json", manifest.id), json.into()).await
    }

    /// Every complete snapshot, oldest first. A manifest that does not parse is reported, not skipped.
    pub async fn manifests(&self) -> Result<Vec<Result<Manifest>>> {
        let mut keys: Vec<String> =
            self.list("snapshots").await?.into_iter().map(|(k, _)| k).filter(|k| k.ends_with(".json")).collect();
        keys.sort();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let id = key.trim_start_matches("snapshots/").trim_end_matches(".json").to_owned();
            let Some(bytes) = self.get(&key).await? else { continue };
            out.push(
                serde_json::from_slice::<Manifest>(&bytes)
                    .map_err(|e| BackupError::BadManifest { id, reason: e.to_string() }),
            );
        }
        Ok(out)
    }

    /// One snapshot by id, or `latest`.
    pub async fn manifest(&self, id: &str) -> Result<Manifest> {
        if id == "latest" {
            return self
                .manifests()
                .await?
                .into_iter()
                .rev()
                .find_map(Result::ok)
                .ok_or_else(|| BackupError::NoSuchSnapshot("latest".into()));
        }
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == 'T' || c == 'Z') {
            return Err(BackupError::NoSuchSnapshot(id.to_owned()));
        }
        let bytes =
            self.get(&format!("snapshots/{id}.json")).await?.ok_or_else(|| BackupError::NoSuchSnapshot(id.into()))?;
        serde_json::from_slice(&bytes).map_err(|e| BackupError::BadManifest { id: id.into(), reason: e.to_string() })
    }

    pub async fn delete_manifest(&self, id: &str) -> Result<()> {
        self.delete(&format!("snapshots/{id}.json")).await
    }

    pub async fn put_pending(&self, marker: &PendingMarker) -> Result<()> {
        let json = serde_json::to_vec(marker).map_err(|e| BackupError::Invalid(e.to_string()))?;
        self.put(&format!("pending/{}.json", marker.snapshot_id), json.into()).await
    }

    pub async fn delete_pending(&self, id: &str) -> Result<()> {
        self.delete(&format!("pending/{id}.json")).await
    }

    pub async fn pending(&self) -> Result<Vec<PendingMarker>> {
        let mut out = Vec::new();
        for (key, _) in self.list("pending").await? {
            if let Some(bytes) = self.get(&key).await?
                && let Ok(marker) = serde_json::from_slice::<PendingMarker>(&bytes)
            {
                out.push(marker);
            }
        }
        Ok(out)
    }

    /// Deletes chunks no manifest refers to, and stale pending markers, unless another run may still be writing.
    /// Returns how many chunks were deleted.
    pub async fn collect_garbage(&self, now: i64, own: Option<&str>) -> Result<GcReport> {
        let mut report = GcReport::default();
        let mut live_runs = 0;
        for marker in self.pending().await? {
            if Some(marker.snapshot_id.as_str()) == own {
                continue;
            }
            if marker_is_stale(&marker, now) {
                self.delete_pending(&marker.snapshot_id).await?;
                report.stale_runs += 1;
            } else {
                live_runs += 1;
            }
        }
        if live_runs > 0 {
            report.skipped_because_running = true;
            return Ok(report);
        }
        let mut referenced = HashSet::new();
        for manifest in self.manifests().await? {
            // A damaged manifest would make its chunks look unreferenced: refuse to collect rather than lose data.
            let manifest = manifest?;
            referenced.extend(manifest.chunks.into_keys());
        }
        for id in self.chunk_ids().await? {
            if !referenced.contains(&id) {
                self.delete(&chunk_key_path(&id)).await?;
                report.chunks_deleted += 1;
            }
        }
        if let Target::Dir(dir) = &self.target {
            report.partial_files_deleted = remove_partial_files(dir);
        }
        Ok(report)
    }
}

/// What garbage collection did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct GcReport {
    pub chunks_deleted: u64,
    pub stale_runs: u64,
    pub partial_files_deleted: u64,
    pub skipped_because_running: bool,
}

/// How long a run on another host may hold its pending marker before it is presumed dead.
const FOREIGN_RUN_LEASE_MS: i64 = 6 * 3600 * 1000;

fn marker_is_stale(marker: &PendingMarker, now: i64) -> bool {
    if marker.host == this_host() {
        return !process_alive(marker.pid);
    }
    now - marker.started_at > FOREIGN_RUN_LEASE_MS
}

/// This machine's name, for pending markers.
#[must_use]
pub fn this_host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn process_alive(pid: u32) -> bool {
    // /proc/<pid> exists while the process does (Linux); elsewhere assume alive and rely on the lease.
    if !std::path::Path::new("/proc").exists() {
        return true;
    }
    std::path::Path::new(&format!("/proc/{pid}")).exists() && pid != 0
}

/// `object_store`'s local backend writes `name#N` and renames it into place; a killed run leaves those behind.
fn remove_partial_files(dir: &std::path::Path) -> u64 {
    let mut removed = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.rsplit_once('#'))
                .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                && std::fs::remove_file(&p).is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

async fn read_config(store: &Arc<dyn ObjectStore>, target: &Target) -> Result<Option<RepoConfig>> {
    match store.get(&path("config.json")).await {
        Ok(got) => {
            let bytes = got
                .bytes()
                .await
                .map_err(|e| BackupError::Target { target: target.to_string(), reason: e.to_string() })?;
            let config = serde_json::from_slice(&bytes)
                .map_err(|e| BackupError::BadManifest { id: "config.json".into(), reason: e.to_string() })?;
            Ok(Some(config))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(BackupError::Target { target: target.to_string(), reason: e.to_string() }),
    }
}

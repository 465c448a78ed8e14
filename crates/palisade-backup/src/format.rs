//! The snapshot manifest: what a snapshot holds and how to check it.
//!
//! The manifest is readable without the restore identity, so a node can list, verify structure and collect
//! garbage; it names files and chunks but holds no personal data. Per-table row counts and checksums are in
//! `sealed_facts`, encrypted to the recipients like the data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The manifest format this code writes.
pub const MANIFEST_FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// Sortable by time: `20261125T054500Z-1a2b3c4d`.
    pub id: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub host: String,
    /// `sqlite` or `postgres`: informative only, a snapshot restores onto either.
    pub source_backend: String,
    /// The migration version the database was at.
    pub schema_version: i64,
    pub files: Vec<FileEntry>,
    pub chunks: BTreeMap<String, ChunkRef>,
    pub totals: Totals,
    /// Who asked for the snapshot; manifests written before this field read as scheduled.
    #[serde(default)]
    pub origin: Origin,
    /// Hex of an age file holding [`Facts`] as JSON.
    pub sealed_facts: String,
}

/// Who asked for a snapshot. Retention treats them apart: a snapshot someone made by hand (before an upgrade,
/// say) is not removed by the same day's scheduled run just because a newer one exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The backup schedule (the `backup.snapshot` job).
    #[default]
    Scheduled,
    /// `palisade backup create`.
    Manual,
    /// Taken by `palisade migrate` or `serve` just before applying new migrations: the way back from an upgrade.
    PreMigration,
}

/// One logical file: `db/<table>.jsonl`, `objects/<key>` or `keys/master.key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub chunks: Vec<String>,
}

/// A stored chunk: plaintext size, and size and SHA-256 of what is stored (checkable without decrypting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    pub size: u64,
    pub stored_size: u64,
    pub stored_sha256: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Totals {
    pub files: u64,
    pub bytes: u64,
    pub chunks: u64,
    /// Chunks this run had to upload (the rest were already in the repository).
    pub new_chunks: u64,
    pub stored_bytes: u64,
    pub new_stored_bytes: u64,
    pub tables: u64,
    pub rows: u64,
    pub objects: u64,
    /// Bytes taken over from the previous snapshot without reading them (unchanged objects and table segments).
    #[serde(default)]
    pub reused_bytes: u64,
}

/// What the restore drill and `restore` compare against.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Facts {
    pub tables: Vec<TableFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableFacts {
    pub name: String,
    pub rows: u64,
    /// Order-independent keyed checksum of the rows (see `dump::Checksum`).
    pub checksum: String,
}

impl Manifest {
    /// The files' chunks in order, with the file each belongs to (for precise error reports).
    pub fn chunk_owners(&self) -> BTreeMap<&str, &str> {
        let mut owners = BTreeMap::new();
        for file in &self.files {
            for chunk in &file.chunks {
                owners.entry(chunk.as_str()).or_insert(file.path.as_str());
            }
        }
        owners
    }
}

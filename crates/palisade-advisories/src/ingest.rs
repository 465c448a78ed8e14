//! Ingesting a directory of OSV files (the operator's offline feed).
//!
//! Every `*.json` file directly in the directory holds one record or an array of records. Files are read in
//! name order so that two runs over the same directory give the same report. A bad record is refused on its own
//! (its file's other records still count); a file that cannot be read, is larger than the limit or is not JSON is
//! refused whole. Nothing here panics on hostile input: sizes are checked before reading, and every refusal is a
//! typed reason in the report.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::advisory::{Advisory, RecordError};
use crate::db::{AdvisoryDb, Upsert};

/// Default largest file read: a whole feed exported as one array stays well below this.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Why a file or one of its records was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The file or directory could not be read.
    #[error("cannot read: {0}")]
    Io(String),
    /// The file is larger than the limit.
    #[error("{size} bytes is over the {max}-byte limit")]
    TooLarge {
        /// The file's size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Not JSON at all, or neither an object nor an array.
    #[error("not an OSV record or array of records: {0}")]
    Json(String),
    /// One record was refused.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Records that were new.
    pub inserted: usize,
    /// Records that replaced an older record with the same id.
    pub replaced: usize,
    /// Records ignored because a record with the same id and an equal or newer `modified` was already held.
    pub stale: usize,
    /// Refusals (of the whole file, or of single records in it).
    pub errors: Vec<IngestError>,
}

impl FileReport {
    /// Whether the file contributed nothing and was refused.
    #[must_use]
    pub fn refused(&self) -> bool {
        !self.errors.is_empty() && self.inserted + self.replaced + self.stale == 0
    }
}

/// What one ingest run did, file by file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// One entry per `*.json` file, in name order.
    pub files: Vec<FileReport>,
}

impl IngestReport {
    /// Files that contributed at least one record.
    pub fn accepted(&self) -> impl Iterator<Item = &FileReport> {
        self.files.iter().filter(|f| !f.refused())
    }

    /// Files refused whole.
    pub fn refused(&self) -> impl Iterator<Item = &FileReport> {
        self.files.iter().filter(|f| f.refused())
    }

    /// Every refusal, with its file.
    pub fn errors(&self) -> impl Iterator<Item = (&Path, &IngestError)> {
        self.files.iter().flat_map(|f| f.errors.iter().map(move |e| (f.path.as_path(), e)))
    }
}

/// Reads every `*.json` file of `dir` into `db`.
///
/// # Errors
/// [`IngestError::Io`] only when the directory itself cannot be listed; problems with files and records are in
/// the report.
pub fn ingest_dir(db: &mut AdvisoryDb, dir: &Path, max_file_bytes: u64) -> Result<IngestReport, IngestError> {
    let listing = fs::read_dir(dir).map_err(|e| IngestError::Io(format!("{}: {e}", dir.display())))?;
    let mut paths: Vec<PathBuf> = listing
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    let files = paths.into_iter().map(|path| ingest_file(db, path, max_file_bytes)).collect();
    Ok(IngestReport { files })
}

fn ingest_file(db: &mut AdvisoryDb, path: PathBuf, max_file_bytes: u64) -> FileReport {
    let mut report = FileReport { path, inserted: 0, replaced: 0, stale: 0, errors: Vec::new() };
    match read_limited(&report.path, max_file_bytes) {
        Ok(bytes) => ingest_bytes(db, &bytes, &mut report),
        Err(e) => report.errors.push(e),
    }
    report
}

fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, IngestError> {
    let file = fs::File::open(path).map_err(|e| IngestError::Io(e.to_string()))?;
    let meta = file.metadata().map_err(|e| IngestError::Io(e.to_string()))?;
    if !meta.is_file() {
        return Err(IngestError::Io("not a regular file".to_owned()));
    }
    if meta.len() > max {
        return Err(IngestError::TooLarge { size: meta.len(), max });
    }
    // The file may grow between the check and the read: read at most one byte past the limit to notice.
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| IngestError::Io(e.to_string()))?;
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > max {
        return Err(IngestError::TooLarge { size, max });
    }
    Ok(bytes)
}

/// Parses one file's bytes (a record or an array of records) into `db`, recording what happened in `report`.
pub(crate) fn ingest_bytes(db: &mut AdvisoryDb, bytes: &[u8], report: &mut FileReport) {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return report.errors.push(IngestError::Json(e.to_string())),
    };
    let records = match value {
        serde_json::Value::Array(items) => items,
        object @ serde_json::Value::Object(_) => vec![object],
        _ => return report.errors.push(IngestError::Json("expected an object or an array".to_owned())),
    };
    for record in records {
        match Advisory::from_json(record) {
            Ok(advisory) => match db.upsert(advisory) {
                Upsert::Inserted => report.inserted += 1,
                Upsert::Replaced => report.replaced += 1,
                Upsert::Stale => report.stale += 1,
            },
            Err(e) => report.errors.push(e.into()),
        }
    }
}

//! Whether anything was committed to the database since a moment: lets hot read paths (the storefront's content
//! versions) answer from memory without giving up exactness.
//!
//! SQLite in WAL mode only. Every commit, by any connection of any process, publishes itself by rewriting the
//! WAL-index header at the start of the `-shm` file (two copies of a 48-byte header: the new end of the log, salts
//! and checksums; <https://sqlite.org/walformat.html#the_wal_index_file_format>); a reader sees a commit only
//! once that header names it. So an unchanged header means nothing new is visible, and reading 96 bytes with one
//! `pread` answers "changed since?" for a fraction of a microsecond, where `PRAGMA data_version` costs a read
//! transaction with its file locks and a query through sqlx a hop to its connection thread and back.
//!
//! The watch keeps its own connection open for as long as it lives: SQLite removes or resets the `-shm` file only
//! when its last connection closes, so the file the watch reads stays the one every connection writes. Whatever
//! looks off (the two copies differ mid-update, the file was unlinked, a short read) answers "unknown", and the
//! caller reads the database.
//!
//! PostgreSQL nodes share the database with other nodes and have no such header: they always ask the database.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};

use rusqlite::{Connection, OpenFlags};

/// Bytes of one copy of the WAL-index header.
const HEADER: usize = 48;

/// A committed state of the database as seen from this process: two equal markers mean nothing was committed
/// in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Marker([u8; HEADER]);

/// The watch: its keeper connection and the `-shm` file it reads (see the module docs).
pub struct ChangeWatch {
    /// Never used after opening; held so the `-shm` file stays in place.
    _keeper: Mutex<Connection>,
    shm: Arc<File>,
}

/// The `-shm` files opened by watches, by device and inode, never closed. On Unix, closing any descriptor of a
/// file releases every POSIX lock the process holds on it, SQLite's included (sqlite.org/howtocorrupt.html 2.2):
/// a watch dropped while the pool's connections live on would leave them unlocked. So each file is opened once
/// per process and kept open for the process's life (one descriptor per database file: one in a server).
static SHM_FILES: LazyLock<Mutex<HashMap<Inode, Arc<File>>>> = LazyLock::new(Mutex::default);

/// A file's device and inode number.
type Inode = (u64, u64);

fn shm_file(path: &Path) -> std::io::Result<Arc<File>> {
    let meta = std::fs::metadata(path)?;
    let key = (meta.dev(), meta.ino());
    let mut files = SHM_FILES.lock().map_err(|_| std::io::Error::other("watch registry poisoned"))?;
    if let Some(f) = files.get(&key) {
        return Ok(Arc::clone(f));
    }
    let file = Arc::new(File::open(path)?);
    // The inode opened is the one looked up (not replaced in between), or the key would name another file.
    let opened = file.metadata()?;
    if (opened.dev(), opened.ino()) != key {
        // Leaked rather than closed, for the reason above.
        std::mem::forget(file);
        return Err(std::io::Error::other("the -shm file changed while it was opened"));
    }
    files.insert(key, Arc::clone(&file));
    Ok(file)
}

impl std::fmt::Debug for ChangeWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangeWatch")
    }
}

impl ChangeWatch {
    /// Opens the watch on an existing SQLite file in WAL mode (after the pool created it). `None` when that
    /// cannot be done: callers then always ask the database, which is slower but as exact.
    #[must_use]
    pub fn open(path: &Path) -> Option<ChangeWatch> {
        let opened = (|| -> Result<ChangeWatch, String> {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(path, flags).map_err(|e| e.to_string())?;
            let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(|e| e.to_string())?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(format!("journal mode is {mode}, not wal"));
            }
            // A first read joins the WAL index: from now on this connection holds the `-shm` file open.
            let _: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(|e| e.to_string())?;
            let mut shm_path = path.as_os_str().to_owned();
            shm_path.push("-shm");
            let shm = shm_file(Path::new(&shm_path)).map_err(|e| e.to_string())?;
            Ok(ChangeWatch { _keeper: Mutex::new(conn), shm })
        })();
        match opened {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "change watch unavailable; storefront versions are read from the database");
                None
            }
        }
    }

    /// The current marker, or `None` when it cannot be told (then the caller reads the database).
    #[must_use]
    pub fn marker(&self) -> Option<Marker> {
        let mut buf = [0u8; 2 * HEADER];
        self.shm.read_exact_at(&mut buf, 0).ok()?;
        // Unlinked: SQLite would be using another file (cannot happen while the keeper is open; checked anyway).
        if self.shm.metadata().ok()?.nlink() == 0 {
            return None;
        }
        let (first, second) = buf.split_at(HEADER);
        // Mid-update (the writer rewrites the second copy, then the first) or never initialised.
        if first != second || first.iter().all(|b| *b == 0) {
            return None;
        }
        first.try_into().ok().map(Marker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_connections_commit_moves_the_marker_and_reads_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER)").unwrap();
        let watch = ChangeWatch::open(&path).unwrap();
        let a = watch.marker().unwrap();
        let _: i64 = writer.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(watch.marker().unwrap(), a, "a read is not a change");
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let b = watch.marker().unwrap();
        assert_ne!(b, a, "a commit by another connection is");
        assert_eq!(watch.marker().unwrap(), b);
        // Every commit moves it, through checkpoints and the log restarting from its start.
        let mut seen = std::collections::HashSet::from([a, b]);
        for i in 0..200 {
            writer.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
            if i % 50 == 0 {
                writer.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
            }
            assert!(seen.insert(watch.marker().unwrap()), "commit {i} left the marker where it was");
        }
    }

    #[test]
    fn a_database_not_in_wal_mode_has_no_watch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        assert!(ChangeWatch::open(&path).is_none());
    }
}

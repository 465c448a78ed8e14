//! The restore drill: restore the latest snapshot into a scratch SQLite database in a temporary directory and
//! compare every table's row count and checksum with the snapshot's sealed facts (the restore does the
//! comparison as it loads; a mismatch fails the drill). Nothing outside the scratch directory is touched.

use std::sync::Arc;

use palisade_store::{Db, DbOptions, Objects};
use serde::Serialize;

use crate::error::{BackupError, Result};
use crate::keys::Identity;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::restore::{RestoreTarget, restore_carrying};
use palisade_commerce::erasure::{self, Tombstone};

#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    pub snapshot: String,
    pub snapshot_age_ms: i64,
    pub tables: u64,
    pub rows: u64,
    pub objects: u64,
    pub restore_ms: i64,
    /// Erasure tombstones in the restored database, accounts erased again, and tombstoned accounts still found
    /// unerased afterwards (the drill fails unless this is zero).
    pub tombstones: u64,
    pub erasures_reapplied: u64,
}

impl DrillReport {
    #[must_use]
    pub fn summary(&self) -> String {
        format!(
            "restored snapshot {} ({} tables, {} rows, {} objects) into a scratch database in {:.1} s; every table \
             matched; {} erasure tombstones held, {} erased again, none came back",
            self.snapshot,
            self.tables,
            self.rows,
            self.objects,
            self.restore_ms as f64 / 1000.0,
            self.tombstones,
            self.erasures_reapplied
        )
    }
}

/// Restores the latest snapshot into scratch space under `scratch_parent` and checks it: every table's checksum,
/// and that no erased person is back once the snapshot's and the `carried` (the live installation's) erasure
/// tombstones are re-applied.
pub async fn drill(
    repo: &Repository,
    identity: &Identity,
    scratch_parent: &std::path::Path,
    clock: palisade_core::time::SharedClock,
    carried: &[Tombstone],
    progress: &dyn Progress,
) -> Result<DrillReport> {
    let manifest = repo.manifest("latest").await?;
    std::fs::create_dir_all(scratch_parent).map_err(BackupError::io(scratch_parent))?;
    let scratch = tempfile::Builder::new()
        .prefix("palisade-drill-")
        .tempdir_in(scratch_parent)
        .map_err(BackupError::io(scratch_parent))?;
    let url = format!("sqlite://{}", scratch.path().join("drill.db").display());
    let db = Db::connect(&url, DbOptions { clock: Arc::clone(&clock), ..DbOptions::default() }).await?;
    let objects = Objects::local(&scratch.path().join("objects"))?;
    let started = clock.now().millis();
    let target =
        RestoreTarget { db: &db, objects: &objects, master_key_file: &scratch.path().join("master.key"), force: false };
    let result = match restore_carrying(repo, &manifest, identity, target, carried, progress).await {
        Ok(report) => match erasure::unerased(&db).await {
            Ok(back) if back.is_empty() => Ok(report),
            Ok(back) => {
                Err(BackupError::Erasure(format!("{} erased accounts came back after the restore", back.len())))
            }
            Err(e) => Err(BackupError::Erasure(e.to_string())),
        },
        Err(e) => Err(e),
    };
    db.close().await;
    let report = result?;
    Ok(DrillReport {
        snapshot: manifest.id.clone(),
        snapshot_age_ms: started - manifest.started_at,
        tables: report.tables,
        rows: report.rows,
        objects: report.objects,
        restore_ms: clock.now().millis() - started,
        tombstones: report.tombstones,
        erasures_reapplied: report.erasures_reapplied,
    })
}

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
use crate::restore::{RestoreTarget, restore};

#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    pub snapshot: String,
    pub snapshot_age_ms: i64,
    pub tables: u64,
    pub rows: u64,
    pub objects: u64,
    pub restore_ms: i64,
}

impl DrillReport {
    #[must_use]
    pub fn summary(&self) -> String {
        format!(
            "restored snapshot {} ({} tables, {} rows, {} objects) into a scratch database in {:.1} s; every table matched",
            self.snapshot,
            self.tables,
            self.rows,
            self.objects,
            self.restore_ms as f64 / 1000.0
        )
    }
}

/// Restores the latest snapshot into scratch space under `scratch_parent` and checks it.
pub async fn drill(
    repo: &Repository,
    identity: &Identity,
    scratch_parent: &std::path::Path,
    clock: palisade_core::time::SharedClock,
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
    let result = restore(repo, &manifest, identity, target, progress).await;
    db.close().await;
    let report = result?;
    Ok(DrillReport {
        snapshot: manifest.id.clone(),
        snapshot_age_ms: started - manifest.started_at,
        tables: report.tables,
        rows: report.rows,
        objects: report.objects,
        restore_ms: clock.now().millis() - started,
    })
}

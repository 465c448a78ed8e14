//! Upgrading the schema safely: what is pending, and a backup snapshot before anything is applied.
//!
//! `palisade migrate` and `serve` both come through here, so an upgrade always leaves a way back: when migrations
//! are pending on a database that already has a schema, a verified snapshot is taken on the primary backup target
//! first, and a failed snapshot stops the migration. A fresh database (no schema yet) has nothing to lose and gets
//! no snapshot. `--no-backup` skips the snapshot and says so in the audit log.

use anyhow::Context;
use palisade_backup::Progress;
use palisade_backup::format::Manifest;
use palisade_store::migrate::{self, MigrationReport, PendingMigration};
use palisade_store::{audit, scope::PlatformScope};

use crate::backups::{self, BackupContext};
use crate::runtime::explain;

/// Whether to take a snapshot before migrating (`--no-backup` says [`BeforeMigrating::SkipSnapshot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeforeMigrating {
    Snapshot,
    SkipSnapshot,
}

/// What an upgrade did.
pub struct Upgrade {
    /// The migrations that were pending (and are now applied).
    pub applied: Vec<PendingMigration>,
    /// The snapshot taken first, if one was.
    pub snapshot: Option<Manifest>,
    /// The schema versions before and after.
    pub report: MigrationReport,
}

/// Applies the pending migrations, with a snapshot first when the database has a schema and `before` allows it.
///
/// # Errors
/// When the snapshot fails (nothing is migrated then), or the migration itself fails.
pub async fn migrate(
    ctx: &BackupContext<'_>,
    before: BeforeMigrating,
    progress: &dyn Progress,
) -> anyhow::Result<Upgrade> {
    let pending = migrate::pending(ctx.db).await.map_err(explain)?;
    let has_schema = migrate::applied_version(ctx.db).await.map_err(explain)?.is_some();
    let needs_snapshot = !pending.is_empty() && has_schema;
    let snapshot = if needs_snapshot && before == BeforeMigrating::Snapshot {
        let manifest = backups::snapshot_before_migrating(ctx, progress).await.context(
            "the backup snapshot before migrating failed, so nothing was migrated (fix the cause, or pass \
             --no-backup to migrate without one if you have another copy)",
        )?;
        Some(manifest)
    } else {
        None
    };
    let report = migrate::run(ctx.db).await.map_err(explain)?;
    if let Some(manifest) = &snapshot {
        // The snapshot exists and verified; failing to list it in the matrix must not fail a done migration.
        if let Err(e) = backups::record_pre_migration(ctx, manifest).await {
            tracing::warn!(backup.snapshot = %manifest.id, error = %format!("{e:#}"), "could not record the pre-migration snapshot");
        }
    }
    if needs_snapshot && before == BeforeMigrating::SkipSnapshot {
        let details = serde_json::json!({"from": report.from, "to": report.to});
        audit::record_platform_now(
            ctx.db,
            &PlatformScope::system("migrate --no-backup"),
            audit::NewEvent::new("schema.migrated_without_backup", "platform").details(details),
        )
        .await
        .map_err(explain)?;
    }
    Ok(Upgrade { applied: pending, snapshot, report })
}

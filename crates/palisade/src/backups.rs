//! Platform backups as this installation runs them: the key pair (created on first use), the targets (the
//! primary repository in DATA_DIR/backups/repo plus any configured ones), and the sequence each run follows —
//! snapshot, verify what was written, apply retention — with every step recorded for the matrix.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use palisade_backup::format::{Manifest, Origin};
use palisade_backup::keys::{self, ChunkKey, Identity, Recipients};
use palisade_backup::runs::{self, NewRun, RunKind};
use palisade_backup::{Progress, Repository, Target, drill, retention, snapshot, verify};
use palisade_store::jobs::{JobError, JobResult};
use palisade_store::{Db, Objects, secrets};

use crate::config::Settings;

/// Everything a backup run needs from the installation.
pub struct BackupContext<'a> {
    pub settings: &'a Settings,
    pub db: &'a Db,
    pub master_key: &'a secrets::MasterKey,
}

/// The repository every installation has: `DATA_DIR/backups/repo`.
#[must_use]
pub fn primary_target(settings: &Settings) -> Target {
    Target::Dir(settings.backup.dir.join("repo"))
}

/// The primary target first, then the configured extra ones.
pub fn targets(settings: &Settings) -> anyhow::Result<Vec<Target>> {
    let mut out = vec![primary_target(settings)];
    for text in &settings.backup.extra_targets {
        out.push(Target::parse(text).with_context(|| "in backup_targets of the config file")?);
    }
    Ok(out)
}

/// Picks `--target` (which must be configured or a path/URL given explicitly) or the primary target.
pub fn choose_target(settings: &Settings, explicit: Option<&str>) -> anyhow::Result<Target> {
    match explicit {
        Some(text) => Ok(Target::parse(text)?),
        None => Ok(primary_target(settings)),
    }
}

/// Loads the recipients, creating the key pair first if this installation has none (zero-config).
/// Returns whether it was created, so the caller can say loudly where the restore identity is.
pub fn recipients(settings: &Settings) -> anyhow::Result<(Arc<Recipients>, Option<PathBuf>)> {
    let path = &settings.backup.recipients;
    let mut created = None;
    if !path.exists() && path.parent() == Some(settings.backup.dir.as_path()) {
        let files = keys::ensure_key_pair(&settings.backup.dir)?;
        if files.created {
            created = Some(files.identity);
        }
    }
    let recipients = Recipients::load(path).with_context(|| format!("reading backup recipients {}", path.display()))?;
    Ok((Arc::new(recipients), created))
}

/// The warning printed (CLI) or logged (server) when a key pair was just generated.
#[must_use]
pub fn identity_warning(identity: &Path) -> String {
    format!(
        "A backup key pair was generated. The RESTORE IDENTITY is {}: copy it to offline storage (password \
         manager, USB key in a safe) and then DELETE it from this machine. Whoever holds it can read every backup; \
         without it no backup can be restored.",
        identity.display()
    )
}

/// The identity for verify --read-data, drills and restores: the flag, else the configured file, else the
/// generated one if it is still on this machine.
pub fn identity(settings: &Settings, explicit: Option<&Path>) -> anyhow::Result<Identity> {
    let default = settings.backup.dir.join(keys::IDENTITY_FILE);
    let path = explicit.map(Path::to_path_buf).or_else(|| settings.backup.identity.clone()).unwrap_or(default);
    if !path.exists() {
        anyhow::bail!(
            "no restore identity at {}: pass --identity FILE (the restore-identity.txt you moved off this machine)",
            path.display()
        );
    }
    Ok(Identity::load(&path)?)
}

/// Writes erasure tombstones into every target right after an erasure (`palisade_backup::tombstones`): the
/// recipients and the chunk key only, like a snapshot run.
pub fn tombstone_journal(
    settings: &Settings,
    master_key: &secrets::MasterKey,
) -> anyhow::Result<palisade_backup::tombstones::Journal> {
    let (recipients, _) = recipients(settings)?;
    Ok(palisade_backup::tombstones::Journal::new(targets(settings)?, recipients, ChunkKey::derive(master_key.expose())))
}

/// What one target's run produced.
pub struct TargetOutcome {
    pub target: Target,
    pub result: anyhow::Result<(Manifest, verify::VerifyReport, retention::PruneReport)>,
}

/// Snapshot → verify (stored hashes) → retention, on every target. One failing target does not stop the others.
pub async fn run_all(
    ctx: &BackupContext<'_>,
    origin: Origin,
    progress: &dyn Progress,
) -> anyhow::Result<Vec<TargetOutcome>> {
    let (recipients, created) = recipients(ctx.settings)?;
    if let Some(identity) = created {
        tracing::warn!("{}", identity_warning(&identity));
    }
    let key = ChunkKey::derive(ctx.master_key.expose());
    let objects = Objects::local(&ctx.settings.objects_dir)?;
    let mut out = Vec::new();
    for target in targets(ctx.settings)? {
        let result = run_one(ctx, &target, &recipients, &key, &objects, origin, progress).await;
        out.push(TargetOutcome { target, result });
    }
    Ok(out)
}

/// The snapshot `palisade migrate` and `serve` take before applying new migrations: on the primary target (local
/// and always there), verified, and kept by retention like one made by hand. The run is not recorded here: an old
/// schema may not have the `backup_runs` table yet; [`record_pre_migration`] records it once migrated.
pub async fn snapshot_before_migrating(ctx: &BackupContext<'_>, progress: &dyn Progress) -> anyhow::Result<Manifest> {
    let (recipients, created) = recipients(ctx.settings)?;
    if let Some(identity) = created {
        tracing::warn!("{}", identity_warning(&identity));
    }
    let key = ChunkKey::derive(ctx.master_key.expose());
    let objects = Objects::local(&ctx.settings.objects_dir)?;
    let target = primary_target(ctx.settings);
    let repo = Repository::open_or_init(&target, &recipients, &key, ctx.db.now().millis()).await?;
    let sources = snapshot::Sources { db: ctx.db, objects: &objects, master_key: ctx.master_key.expose() };
    let manifest = snapshot::create(&repo, recipients, &key, sources, Origin::PreMigration, progress).await?;
    let report = verify::verify(&repo, Some(&manifest.id), None, progress).await?;
    if !report.ok() {
        let problems: Vec<String> = report.problems.iter().map(|p| p.problem.clone()).collect();
        anyhow::bail!("snapshot {} does not verify: {}", manifest.id, problems.join("; "));
    }
    Ok(manifest)
}

/// Records a pre-migration snapshot in `backup_runs` (the backup matrix), now that the schema has the table.
pub async fn record_pre_migration(ctx: &BackupContext<'_>, manifest: &Manifest) -> anyhow::Result<()> {
    let t = &manifest.totals;
    let detail = format!("before migrating: {} tables, {} rows, {} objects", t.tables, t.rows, t.objects);
    runs::record(
        ctx.db,
        NewRun {
            kind: RunKind::Snapshot,
            target: &primary_target(ctx.settings),
            snapshot_id: Some(&manifest.id),
            started_at: manifest.started_at,
            ok: true,
            detail,
            bytes: t.bytes,
        },
    )
    .await?;
    Ok(())
}

async fn run_one(
    ctx: &BackupContext<'_>,
    target: &Target,
    recipients: &Arc<Recipients>,
    key: &ChunkKey,
    objects: &Objects,
    origin: Origin,
    progress: &dyn Progress,
) -> anyhow::Result<(Manifest, verify::VerifyReport, retention::PruneReport)> {
    let db = ctx.db;
    let started = db.now().millis();
    let snapshot = async {
        let repo = Repository::open_or_init(target, recipients, key, started).await?;
        let sources = snapshot::Sources { db, objects, master_key: ctx.master_key.expose() };
        let manifest = snapshot::create(&repo, Arc::clone(recipients), key, sources, origin, progress).await?;
        Ok::<_, palisade_backup::BackupError>((repo, manifest))
    }
    .await;
    let (repo, manifest) = match snapshot {
        Ok(done) => done,
        Err(e) => {
            let detail = format!("{} ({})", e, e.code());
            runs::record(
                db,
                NewRun {
                    kind: RunKind::Snapshot,
                    target,
                    snapshot_id: None,
                    started_at: started,
                    ok: false,
                    detail,
                    bytes: 0,
                },
            )
            .await?;
            return Err(e.into());
        }
    };
    let t = &manifest.totals;
    let detail = format!(
        "{} tables, {} rows, {} objects; {} of {} chunks new ({} bytes stored)",
        t.tables, t.rows, t.objects, t.new_chunks, t.chunks, t.new_stored_bytes
    );
    runs::record(
        db,
        NewRun {
            kind: RunKind::Snapshot,
            target,
            snapshot_id: Some(&manifest.id),
            started_at: started,
            ok: true,
            detail,
            bytes: t.bytes,
        },
    )
    .await?;

    let report = verify_recorded(db, &repo, target, &manifest, progress).await?;
    let pruned = prune_recorded(ctx, &repo, target).await?;
    Ok((manifest, report, pruned))
}

/// Verifies the snapshot just taken and records the run.
async fn verify_recorded(
    db: &Db,
    repo: &Repository,
    target: &Target,
    manifest: &Manifest,
    progress: &dyn Progress,
) -> anyhow::Result<verify::VerifyReport> {
    let verify_started = db.now().millis();
    let report = verify::verify(repo, Some(&manifest.id), None, progress).await?;
    let detail = if report.ok() {
        format!("{} chunks present with their recorded sizes and hashes", report.chunks)
    } else {
        report.problems.iter().map(|p| p.problem.clone()).collect::<Vec<_>>().join("; ")
    };
    runs::record(
        db,
        NewRun {
            kind: RunKind::Verify,
            target,
            snapshot_id: Some(&manifest.id),
            started_at: verify_started,
            ok: report.ok(),
            detail,
            bytes: report.bytes_read,
        },
    )
    .await?;
    Ok(report)
}

/// Applies the retention policy to the target and records the run.
async fn prune_recorded(
    ctx: &BackupContext<'_>,
    repo: &Repository,
    target: &Target,
) -> anyhow::Result<retention::PruneReport> {
    let db = ctx.db;
    let prune_started = db.now().millis();
    let pruned =
        retention::prune(repo, ctx.settings.backup.retention, prune_started, retention::PruneMode::Delete).await?;
    let detail = format!(
        "kept {}, removed {}, {} chunks deleted",
        pruned.kept.len(),
        pruned.removed.len(),
        pruned.gc.chunks_deleted
    );
    runs::record(
        db,
        NewRun {
            kind: RunKind::Prune,
            target,
            snapshot_id: None,
            started_at: prune_started,
            ok: true,
            detail,
            bytes: 0,
        },
    )
    .await?;
    Ok(pruned)
}

/// The restore drill against the primary target, recorded either way.
pub async fn run_drill(
    ctx: &BackupContext<'_>,
    target: &Target,
    identity: anyhow::Result<Identity>,
    progress: &dyn Progress,
) -> anyhow::Result<drill::DrillReport> {
    let db = ctx.db;
    let started = db.now().millis();
    let result = async {
        let identity = identity?;
        let repo = Repository::open(target).await?;
        let scratch = ctx.settings.backup.dir.join("drills");
        // The live installation's erasures too: a snapshot taken before an erasure must not bring the person back.
        let carried = palisade_commerce::erasure::tombstones(db).await?;
        Ok::<_, anyhow::Error>(drill::drill(&repo, &identity, &scratch, db.clock().clone(), &carried, progress).await?)
    }
    .await;
    let (ok, detail, snapshot) = match &result {
        Ok(r) => (true, r.summary(), Some(r.snapshot.clone())),
        Err(e) => (false, format!("{e:#}"), None),
    };
    runs::record(
        db,
        NewRun {
            kind: RunKind::Drill,
            target,
            snapshot_id: snapshot.as_deref(),
            started_at: started,
            ok,
            detail,
            bytes: 0,
        },
    )
    .await?;
    result
}

/// Daily: snapshot, verify and prune on every target.
pub const SNAPSHOT_JOB: &str = "backup.snapshot";
/// Weekly: restore the latest snapshot into scratch space and compare (needs a readable restore identity).
pub const DRILL_JOB: &str = "backup.drill";

/// Hourly: stores whose export schedule is due get their export; expired archives are deleted.
pub const STORE_EXPORTS_JOB: &str = "backup.store_exports";

/// What the backup jobs need; the master key is read from its file when a job runs.
#[derive(Debug, Clone)]
pub struct BackupJobs {
    pub settings: Settings,
    /// Where scheduled exports may be delivered (merchants' buckets): the operator's `--exports-allow-private-s3`.
    pub outbound: palisade_store::outbound::OutboundPolicy,
}

impl BackupJobs {
    fn master_key(&self) -> Result<secrets::MasterKey, JobError> {
        secrets::load_or_create(&self.settings.master_key_file).map(|(k, _)| k).map_err(JobError::failed)
    }

    pub async fn snapshot(&self, db: &Db) -> JobResult {
        let master_key = self.master_key()?;
        let ctx = BackupContext { settings: &self.settings, db, master_key: &master_key };
        let outcomes = run_all(&ctx, Origin::Scheduled, &palisade_backup::Quiet)
            .await
            .map_err(|e| JobError::Failed(format!("{e:#}")))?;
        let mut failures = Vec::new();
        for o in outcomes {
            match o.result {
                Ok((m, v, _)) if v.ok() => {
                    tracing::info!(backup.snapshot = %m.id, backup.target = %o.target, backup.new_chunks = m.totals.new_chunks, "snapshot taken and verified");
                }
                Ok((m, v, _)) => {
                    failures.push(format!("{}: snapshot {} failed verification: {:?}", o.target, m.id, v.problems))
                }
                Err(e) => failures.push(format!("{}: {e:#}", o.target)),
            }
        }
        if failures.is_empty() { Ok(()) } else { Err(JobError::Failed(failures.join("; "))) }
    }

    /// Writes the erasure tombstones a repository lacks into every target (after the retention job). Failures are
    /// logged (by target) and left to the next snapshot run, which writes every missing tombstone before its
    /// manifest; returns how many targets failed.
    pub async fn record_tombstones(&self, db: &Db) -> usize {
        let journal = match self
            .master_key()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .and_then(|k| tombstone_journal(&self.settings, &k))
        {
            Ok(journal) => journal,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "erasure tombstones could not be written to the backup repositories; the next snapshot retries");
                return 1;
            }
        };
        journal.record(db).await
    }

    pub async fn drill(&self, db: &Db) -> JobResult {
        let master_key = self.master_key()?;
        let ctx = BackupContext { settings: &self.settings, db, master_key: &master_key };
        let target = primary_target(&self.settings);
        let report = run_drill(&ctx, &target, identity(&self.settings, None), &palisade_backup::Quiet)
            .await
            .map_err(|e| JobError::Failed(format!("{e:#}")))?;
        tracing::info!(backup.snapshot = %report.snapshot, "restore drill passed");
        Ok(())
    }

    pub async fn store_exports(&self, db: &Db) -> JobResult {
        use palisade_backup::store_exports::{self, Trigger};
        let master_key = self.master_key()?;
        let sealer = store_exports::passphrase_sealer(master_key.expose());
        let objects = Objects::local(&self.settings.objects_dir)?;
        let mut failures = Vec::new();
        for (store, sealed) in store_exports::due(db).await.map_err(JobError::failed)? {
            let Ok(id) = store.parse::<palisade_core::StoreId>() else { continue };
            let scope = palisade_store::StaffScope::system(id, "scheduled store export");
            let result = match sealed.open(&sealer, &scope) {
                Ok(passphrase) => store_exports::run_export(
                    db,
                    &scope,
                    &objects,
                    passphrase,
                    Trigger::Schedule,
                    palisade_backup::export::DEFAULT_WORK_FACTOR,
                    Some(store_exports::Delivery { sealer: &sealer, outbound: &self.outbound }),
                )
                .await
                .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match result {
                Ok(e) if e.outcome == "ok" => {
                    tracing::info!(store.id = %store, export.id = %e.id, "scheduled store export written")
                }
                Ok(e) => failures.push(format!("store {store}: {}", e.detail)),
                Err(e) => failures.push(format!("store {store}: {e}")),
            }
        }
        let purged = store_exports::purge_expired(db, &objects).await.map_err(JobError::failed)?;
        if purged > 0 {
            tracing::info!(exports.purged = purged, "expired store export archives deleted");
        }
        if failures.is_empty() { Ok(()) } else { Err(JobError::Failed(failures.join("; "))) }
    }
}

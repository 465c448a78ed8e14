//! Backup controls in the responsibility matrix: the platform keeps verified, recent snapshots off the machine
//! and proves it can restore them.

use std::time::Duration;

use palisade_core::matrix::{Area, Control, ControlStatus, Party, Reference, Subject};
use palisade_store::matrix::{EvalContext, Registry};

use crate::keys::IDENTITY_FILE;
use crate::runs::{self, RunKind};

const ISO_BACKUP: Reference = Reference { framework: "ISO/IEC 27001:2022", clause: "A.8.13 Information backup" };
const PDPA_PROTECT: Reference = Reference { framework: "PDPA (Singapore)", clause: "s24 Protection obligation" };

pub const SNAPSHOT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
pub const EXPORT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
pub const RESTORE_TEST_MAX_AGE: Duration = Duration::from_secs(90 * 24 * 3600);
pub const DRILL_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

fn unknown(e: impl std::fmt::Display) -> ControlStatus {
    ControlStatus::Unknown { reason: e.to_string() }
}

#[allow(
    clippy::too_many_lines,
    reason = "the registrations of matrix controls read as one list, each control beside its check"
)]
pub fn register(reg: &mut Registry) -> palisade_store::error::Result<()> {
    reg.register(
        Control {
            id: "platform.backup-verified",
            area: Area::BackupRecovery,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "A platform snapshot was taken in the last 24 hours and verified",
            why: "A backup that is not recent or not checked is a hope, not a backup.",
            remediation: "Keep `palisade serve` running (backup.snapshot runs daily and verifies what it wrote), \
                          or run `palisade backup create` and `palisade backup verify`.",
            references: &[ISO_BACKUP],
        },
        |ctx: EvalContext| async move {
            let since = ctx.db.now().minus(SNAPSHOT_MAX_AGE).millis();
            match runs::last_ok(&ctx.db, RunKind::Snapshot, since, runs::Targets::Any).await {
                Err(e) => unknown(e),
                Ok(None) => match runs::last(&ctx.db, RunKind::Snapshot).await {
                    Ok(Some(r)) if r.outcome == "failed" => {
                        ControlStatus::unmet(format!("the last snapshot failed: {}", r.detail))
                    }
                    Ok(Some(_)) => ControlStatus::unmet("no snapshot in the last 24 hours"),
                    Ok(None) => ControlStatus::unmet("no platform snapshot has been taken yet"),
                    Err(e) => unknown(e),
                },
                Ok(Some(run)) => {
                    let id = run.snapshot_id.clone().unwrap_or_default();
                    match runs::verified(&ctx.db, &id).await {
                        Ok(true) => ControlStatus::met(format!("snapshot {id} to {} verified", run.target)),
                        Ok(false) => ControlStatus::unmet(format!("snapshot {id} has not been verified")),
                        Err(e) => unknown(e),
                    }
                }
            }
        },
    )?;
    reg.register(
        Control {
            id: "platform.backup-off-machine",
            area: Area::BackupRecovery,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "Snapshots are also stored off this machine (S3-compatible storage), and the restore key is not here",
            why: "A backup on the disk it protects is lost with the disk, the machine, or a ransomware attack.",
            remediation: "Add an S3 target (`backup_targets = [\"s3://bucket/prefix\"]` in the config file, credentials \
                          in AWS_* variables) and move DATA_DIR/backups/restore-identity.txt to offline storage.",
            references: &[ISO_BACKUP, PDPA_PROTECT],
        },
        |ctx: EvalContext| async move {
            let since = ctx.db.now().minus(SNAPSHOT_MAX_AGE).millis();
            let identity_here = ctx.facts.data_dir.join("backups").join(IDENTITY_FILE).exists();
            match runs::last_ok(&ctx.db, RunKind::Snapshot, since, runs::Targets::OffMachineOnly).await {
                Err(e) => unknown(e),
                Ok(None) => ControlStatus::unmet("no snapshot reached an off-machine target in the last 24 hours"),
                Ok(Some(_)) if identity_here => ControlStatus::unmet(
                    "snapshots reach S3, but the restore identity is still in the data directory: move it off this machine",
                ),
                Ok(Some(run)) => ControlStatus::met(format!("latest off-machine snapshot at {}", run.target)),
            }
        },
    )?;
    reg.register(
        Control {
            id: "platform.restore-drill",
            area: Area::BackupRecovery,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "A restore drill passed in the last 30 days (latest snapshot restored and compared table by table)",
            why: "Only a restore proves a backup: keys, format and data all have to work on the day they are needed.",
            remediation: "Run `palisade backup drill --identity FILE` on a machine that holds the restore identity \
                          (or keep the identity where the job runner can read it and the weekly drill runs itself).",
            references: &[ISO_BACKUP],
        },
        |ctx: EvalContext| async move {
            let since = ctx.db.now().minus(DRILL_MAX_AGE).millis();
            match runs::last_ok(&ctx.db, RunKind::Drill, since, runs::Targets::Any).await {
                Err(e) => unknown(e),
                Ok(Some(run)) => ControlStatus::met(run.detail),
                Ok(None) => match runs::last(&ctx.db, RunKind::Drill).await {
                    Ok(Some(r)) if r.outcome == "failed" => {
                        ControlStatus::unmet(format!("the last drill failed: {}", r.detail))
                    }
                    Ok(_) => ControlStatus::unmet("no restore drill passed in the last 30 days"),
                    Err(e) => unknown(e),
                },
            }
        },
    )?;
    reg.register(
        Control {
            id: "store.exports-scheduled",
            area: Area::BackupRecovery,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "The store exports its own data on a schedule, and the last export is under 7 days old",
            why: "Your own copy of products, orders and customers does not depend on the platform staying available.",
            remediation: "Security Center → Backups: choose a daily or weekly schedule and a passphrase only you keep.",
            references: &[ISO_BACKUP],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store else { return ControlStatus::NotApplicable { reason: "per store".into() } };
            let settings = match crate::store_exports::settings(&ctx.db, &scope).await {
                Ok(s) => s,
                Err(e) => return unknown(e),
            };
            if settings.schedule == crate::store_exports::Schedule::Off {
                return ControlStatus::unmet("no export schedule is set");
            }
            match crate::store_exports::last_ok(&ctx.db, &scope, "export").await {
                Err(e) => unknown(e),
                Ok(None) => ControlStatus::unmet("scheduled, but no export has succeeded yet"),
                Ok(Some(last)) if palisade_core::Timestamp(last.created_at).plus(EXPORT_MAX_AGE) < ctx.db.now() => {
                    ControlStatus::unmet("the last successful export is more than 7 days old")
                }
                Ok(Some(_)) => {
                    ControlStatus::met(format!("{} exports; the last one succeeded", settings.schedule.as_str()))
                }
            }
        },
    )?;
    reg.register(
        Control {
            id: "store.restore-tested",
            area: Area::BackupRecovery,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "An export was test-restored (into a scratch store) in the last 90 days",
            why: "An export you have never restored may not open when you need it: wrong passphrase, lost file.",
            remediation: "Security Center → Backups: run \"Test restore\" on a recent export with your passphrase.",
            references: &[ISO_BACKUP],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store else { return ControlStatus::NotApplicable { reason: "per store".into() } };
            match crate::store_exports::last_ok(&ctx.db, &scope, "restore-test").await {
                Err(e) => unknown(e),
                Ok(Some(t)) if palisade_core::Timestamp(t.created_at).plus(RESTORE_TEST_MAX_AGE) >= ctx.db.now() => {
                    ControlStatus::met(t.detail)
                }
                Ok(Some(_)) => ControlStatus::unmet("the last restore test is more than 90 days old"),
                Ok(None) => ControlStatus::unmet("no export has been test-restored yet"),
            }
        },
    )?;
    Ok(())
}

//! `palisade privacy retention [--dry-run]`

use std::process::ExitCode;

use palisade_commerce::retention::{self, Mode, Schedule};
use palisade_store::scope::PlatformScope;

use crate::cli::GlobalArgs;
use crate::{config, runtime};

/// Runs (or counts) retention once and prints the counts per class and the recent runs.
pub async fn retention(global: &GlobalArgs, mode: Mode) -> anyhow::Result<ExitCode> {
    let settings = config::resolve(global, config::ServeFlags::NONE)?;
    let login = format!("{}/login", settings.public_url.clone().unwrap_or_default().trim_end_matches('/'));
    let inst = runtime::open(settings, runtime::Schema::CheckCurrent).await?;
    let links = palisade_identity::links::LinkSigner::new(inst.master_key.expose());
    let key = |email: &str| super::jobs::tombstone_key(&links, email);
    let result = async {
        let run = retention::run(&inst.db, &Schedule::default(), mode, &login, &key).await?;
        let recent = retention::recent(&inst.db, &PlatformScope::system("cli"), 5).await?;
        Ok::<_, palisade_commerce::CommerceError>((run, recent))
    }
    .await;
    if result.is_ok() && mode == Mode::Apply {
        // Anyone erased now has a tombstone in the backup repositories too (failures are logged per target; the
        // next snapshot run writes what is missing).
        match crate::backups::tombstone_journal(&inst.settings, &inst.master_key) {
            Ok(journal) => {
                journal.record(&inst.db).await;
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "erasure tombstones not written to the backup repositories")
            }
        }
    }
    inst.db.close().await;
    let (run, recent) = result.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("Retention {} ({}):", if mode == Mode::DryRun { "dry run — nothing changed" } else { "run" }, run.id);
    for line in run.lines() {
        println!("  {line}");
    }
    println!("Recent runs:");
    for r in recent {
        let total: i64 = r.counts.values().sum();
        println!(
            "  {}  {}{} rows/accounts",
            palisade_core::time::Timestamp(r.ran_at),
            if r.dry_run { "dry run, would touch " } else { "" },
            total
        );
    }
    Ok(ExitCode::SUCCESS)
}

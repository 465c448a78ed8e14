//! `palisade migrate [--check] [--no-backup]`

use std::process::ExitCode;

use indicatif::HumanBytes;
use palisade_store::migrate;

use super::backup::Bar;
use crate::backups::BackupContext;
use crate::cli::{EXIT_MIGRATIONS_PENDING, GlobalArgs, MigrateArgs};
use crate::upgrade::{self, BeforeMigrating};
use crate::{config, runtime};

pub async fn run(global: &GlobalArgs, args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    let settings = config::resolve(global, config::ServeFlags::NONE)?;
    let (master_key, _) = runtime::prepare_data_dir(&settings)?;
    let db = runtime::connect(&settings).await?;
    let result = if args.check {
        check(&db).await
    } else {
        let ctx = BackupContext { settings: &settings, db: &db, master_key: &master_key };
        let before = if args.no_backup { BeforeMigrating::SkipSnapshot } else { BeforeMigrating::Snapshot };
        apply(&ctx, before).await
    };
    db.close().await;
    result
}

/// Lists what `palisade migrate` would apply; exit 0 when nothing, [`EXIT_MIGRATIONS_PENDING`] otherwise.
async fn check(db: &palisade_store::Db) -> anyhow::Result<ExitCode> {
    let pending = migrate::pending(db).await.map_err(runtime::explain)?;
    let applied = migrate::applied_version(db).await.map_err(runtime::explain)?;
    let at = applied.map_or_else(|| "empty (no schema yet)".to_owned(), |v| format!("version {v}"));
    if pending.is_empty() {
        println!("{}: schema at {at}, up to date; nothing to migrate", db.display_url());
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}: schema {at}; {} migration(s) pending:", db.display_url(), pending.len());
    for m in &pending {
        println!("  {:04}  {}", m.version, m.description);
    }
    if applied.is_some() {
        println!("`palisade migrate` takes a backup snapshot first, then applies them.");
    } else {
        println!("`palisade migrate` creates the schema (no snapshot: the database is empty).");
    }
    Ok(ExitCode::from(EXIT_MIGRATIONS_PENDING))
}

async fn apply(ctx: &BackupContext<'_>, before: BeforeMigrating) -> anyhow::Result<ExitCode> {
    let bar = Bar::new();
    let result = upgrade::migrate(ctx, before, &bar).await;
    bar.0.finish_and_clear();
    let done = result?;
    if let Some(m) = &done.snapshot {
        println!(
            "Backup snapshot {} taken before migrating ({} tables, {} rows, {} objects, {}; verified)",
            m.id,
            m.totals.tables,
            m.totals.rows,
            m.totals.objects,
            HumanBytes(m.totals.bytes)
        );
    } else if before == BeforeMigrating::SkipSnapshot && done.report.from.is_some() && !done.applied.is_empty() {
        println!("No backup snapshot taken (--no-backup); recorded in the audit log.");
    }
    for m in &done.applied {
        println!("  applied {:04}  {}", m.version, m.description);
    }
    let url = ctx.db.display_url();
    let report = done.report;
    match report.from {
        Some(v) if v == report.to => println!("{url}: schema already at version {}", report.to),
        Some(v) => println!("{url}: migrated schema from version {v} to {}", report.to),
        None => println!("{url}: created schema at version {}", report.to),
    }
    Ok(ExitCode::SUCCESS)
}

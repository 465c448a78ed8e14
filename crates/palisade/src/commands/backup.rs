//! `palisade backup create|list|verify|restore|prune|drill`

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use palisade_backup::format::Origin;
use palisade_backup::restore::{RestoreTarget, restore};
use palisade_backup::{Progress, Repository, Unit, retention, verify};
use palisade_core::SystemClock;
use palisade_store::{Db, DbOptions, Objects};

use super::Output;
use crate::backups::{self, BackupContext};
use crate::cli::{BackupCommand, GlobalArgs};
use crate::{config, runtime};

/// An indicatif bar that follows the library's phases.
pub(super) struct Bar(pub(super) ProgressBar);

impl Bar {
    pub(super) fn new() -> Bar {
        let bar = ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(120));
        Bar(bar)
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: Option<u64>, unit: Unit) {
        self.0.set_position(0);
        let template = match (unit, total) {
            (Unit::Bytes, Some(_)) => {
                "{spinner} {msg:<20} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}, about {eta} left"
            }
            (Unit::Bytes, None) => "{spinner} {msg:<20} {bytes} {bytes_per_sec}",
            (Unit::Chunks, Some(_)) => "{spinner} {msg:<20} {bar:30} {human_pos}/{human_len} chunks, about {eta} left",
            (Unit::Chunks, None) => "{spinner} {msg:<20} {human_pos} chunks",
            (Unit::Nothing, _) => "{spinner} {msg:<20} {elapsed}",
        };
        match total {
            Some(total) => self.0.set_length(total),
            None => self.0.unset_length(),
        }
        self.0.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner()));
        self.0.set_message(name.to_owned());
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

pub async fn run(global: &GlobalArgs, command: BackupCommand) -> anyhow::Result<ExitCode> {
    let settings = config::resolve(global, config::ServeFlags::NONE)?;
    match command {
        BackupCommand::Create => create(settings).await,
        BackupCommand::List { target, json } => {
            list(&settings, target.as_deref(), if json { Output::Json } else { Output::Text }).await
        }
        BackupCommand::Verify { target, snapshot, read_data, identity, json } => {
            let target = backups::choose_target(&settings, target.as_deref())?;
            let identity = if read_data { Some(backups::identity(&settings, identity.as_deref())?) } else { None };
            let repo = Repository::open(&target).await?;
            let bar = Bar::new();
            let report = verify::verify(&repo, snapshot.as_deref(), identity.as_ref(), &bar).await?;
            bar.0.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for p in &report.problems {
                    println!("PROBLEM  {}  {}", p.snapshot, p.problem);
                }
                println!(
                    "{} snapshot(s), {} chunk(s), {} read{}: {}",
                    report.snapshots,
                    report.chunks,
                    HumanBytes(report.bytes_read),
                    if report.read_data { ", every chunk decrypted and checked" } else { " (sizes and hashes)" },
                    if report.ok() { "OK" } else { "FAILED" }
                );
            }
            Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        BackupCommand::Restore { snapshot, to, to_database_url, target, identity, force } => {
            let target = backups::choose_target(&settings, target.as_deref())?;
            let identity = backups::identity(&settings, identity.as_deref())?;
            let existing = if force { Existing::Replace } else { Existing::Refuse };
            restore_to(&target, &identity, &snapshot, &to, to_database_url, existing).await
        }
        BackupCommand::Prune { target, keep_daily, keep_weekly, keep_monthly, dry_run } => {
            let target = backups::choose_target(&settings, target.as_deref())?;
            let defaults = settings.backup.retention;
            let policy = retention::Retention {
                daily: keep_daily.unwrap_or(defaults.daily),
                weekly: keep_weekly.unwrap_or(defaults.weekly),
                monthly: keep_monthly.unwrap_or(defaults.monthly),
            };
            let mode = if dry_run { retention::PruneMode::DryRun } else { retention::PruneMode::Delete };
            prune(&target, policy, mode).await
        }
        BackupCommand::ImportStore { archive, slug, owner, name } => {
            import_store(settings, &archive, &slug, &owner, name).await
        }
        BackupCommand::Drill { target, identity } => {
            let inst = runtime::open(settings.clone(), runtime::Schema::CheckCurrent).await?;
            let target = backups::choose_target(&settings, target.as_deref())?;
            let ctx = BackupContext { settings: &inst.settings, db: &inst.db, master_key: &inst.master_key };
            let bar = Bar::new();
            let result =
                backups::run_drill(&ctx, &target, backups::identity(&settings, identity.as_deref()), &bar).await;
            bar.0.finish_and_clear();
            inst.db.close().await;
            let report = result?;
            println!("Drill passed: {}", report.summary());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `palisade backup prune`: applies the policy now, or with [`retention::PruneMode::DryRun`] only says what it
/// would remove.
async fn prune(
    target: &palisade_backup::Target,
    policy: retention::Retention,
    mode: retention::PruneMode,
) -> anyhow::Result<ExitCode> {
    let dry_run = mode == retention::PruneMode::DryRun;
    let repo = Repository::open(target).await?;
    let now = palisade_core::time::Clock::now(&SystemClock).millis();
    let report = retention::prune(&repo, policy, now, mode).await?;
    for id in &report.kept {
        println!("keep    {id}");
    }
    for id in &report.removed {
        println!("{}  {id}", if dry_run { "would remove" } else { "removed" });
    }
    println!(
        "\n{} kept, {} {}; {} unreferenced chunk(s) deleted (policy: {} daily, {} weekly, {} monthly).",
        report.kept.len(),
        report.removed.len(),
        if dry_run { "would be removed (dry run)" } else { "removed" },
        report.gc.chunks_deleted,
        policy.daily,
        policy.weekly,
        policy.monthly
    );
    Ok(ExitCode::SUCCESS)
}

async fn create(settings: config::Settings) -> anyhow::Result<ExitCode> {
    let inst = runtime::open(settings, runtime::Schema::CheckCurrent).await?;
    let (_, created) = backups::recipients(&inst.settings)?;
    if let Some(identity) = &created {
        eprintln!("\n*** {} ***\n", backups::identity_warning(identity));
    }
    let ctx = BackupContext { settings: &inst.settings, db: &inst.db, master_key: &inst.master_key };
    let started = Instant::now();
    let bar = Bar::new();
    let outcomes = backups::run_all(&ctx, Origin::Manual, &bar).await;
    bar.0.finish_and_clear();
    inst.db.close().await;
    let mut failed = 0;
    for outcome in outcomes? {
        match outcome.result {
            Ok((m, verified, pruned)) => {
                let t = &m.totals;
                println!("Snapshot {} → {}", m.id, outcome.target);
                println!(
                    "  {} tables, {} rows, {} objects, {} in {} chunks",
                    t.tables,
                    t.rows,
                    t.objects,
                    HumanBytes(t.bytes),
                    t.chunks
                );
                println!(
                    "  new: {} chunks, {} stored ({:.1}x less than the data, by deduplication and compression; repository {})",
                    t.new_chunks,
                    HumanBytes(t.new_stored_bytes),
                    t.bytes as f64 / t.new_stored_bytes.max(1) as f64,
                    HumanBytes(t.stored_bytes)
                );
                println!(
                    "  verify: {}; retention: {} kept (this one too: made by hand, it stays at least a day), {} removed",
                    if verified.ok() { "ok" } else { "FAILED" },
                    pruned.kept.len(),
                    pruned.removed.len()
                );
                for id in &pruned.removed {
                    println!("  removed by retention: {id}");
                }
                if !verified.ok() {
                    failed += 1;
                }
            }
            Err(e) => {
                failed += 1;
                println!("FAILED {}: {e:#}", outcome.target);
            }
        }
    }
    println!("Done in {:.1} s.", started.elapsed().as_secs_f64());
    if !inst.settings.backup.extra_targets.iter().any(|t| t.starts_with("s3://")) {
        println!("Note: every copy is on this machine; add an S3 target (backup_targets) to survive losing it.");
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn list(settings: &config::Settings, target: Option<&str>, output: Output) -> anyhow::Result<ExitCode> {
    let target = backups::choose_target(settings, target)?;
    let repo = Repository::open(&target).await?;
    let manifests = repo.manifests().await?;
    if output == Output::Json {
        let items: Vec<serde_json::Value> = manifests
            .iter()
            .map(|m| match m {
                Ok(m) => serde_json::json!({"id": m.id, "started_at": m.started_at, "finished_at": m.finished_at,
                    "host": m.host, "source_backend": m.source_backend, "schema_version": m.schema_version, "totals": m.totals}),
                Err(e) => serde_json::json!({"error": e.to_string()}),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<26} {:<9} {:>7} {:>10} {:>9} {:>10}  host",
        "snapshot", "backend", "tables", "rows", "objects", "size"
    );
    for m in &manifests {
        match m {
            Ok(m) => println!(
                "{:<26} {:<9} {:>7} {:>10} {:>9} {:>10}  {}",
                m.id,
                m.source_backend,
                m.totals.tables,
                m.totals.rows,
                m.totals.objects,
                HumanBytes(m.totals.bytes).to_string(),
                m.host
            ),
            Err(e) => println!("DAMAGED  {e}"),
        }
    }
    println!("\n{} snapshot(s) in {target}.", manifests.len());
    Ok(ExitCode::SUCCESS)
}

/// What a restore does to a database that is not empty and a master key file that exists (`--force`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Existing {
    Refuse,
    Replace,
}

async fn restore_to(
    target: &palisade_backup::Target,
    identity: &palisade_backup::Identity,
    snapshot: &str,
    to: &std::path::Path,
    to_database_url: Option<String>,
    existing: Existing,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let repo = Repository::open(target).await?;
    let manifest = repo.manifest(snapshot).await?;
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let url = to_database_url.unwrap_or_else(|| format!("sqlite://{}", to.join("palisade.db").display()));
    // One connection: the restore uses one at a time, and a SQLite target can then leave WAL mode for the load
    // (see `palisade_backup::restore`), which writes every page once instead of twice.
    let db = Db::connect(
        &url,
        DbOptions {
            clock: Arc::new(SystemClock),
            max_connections: 1,
            // The restore's one connection must be the file's only one (see `palisade_backup::restore`).
            change_watch: false,
            ..DbOptions::default()
        },
    )
    .await
    .map_err(runtime::explain)?;
    let objects = Objects::local(&to.join("objects")).map_err(runtime::explain)?;
    let bar = Bar::new();
    let result = restore(
        &repo,
        &manifest,
        identity,
        RestoreTarget {
            db: &db,
            objects: &objects,
            master_key_file: &to.join("master.key"),
            force: existing == Existing::Replace,
        },
        &bar,
    )
    .await;
    bar.0.finish_and_clear();
    db.close().await;
    let report = result?;
    println!(
        "Restored snapshot {} ({} from {}) into {}",
        report.snapshot,
        manifest.source_backend,
        target,
        to.display()
    );
    println!(
        "  database: {} ({} tables, {} rows; every table's checksum matched)",
        db.display_url(),
        report.tables,
        report.rows
    );
    println!(
        "  objects: {} ({}), master key: {}",
        report.objects,
        HumanBytes(report.bytes),
        to.join("master.key").display()
    );
    println!("  schema: version {} → {}", report.schema_from, report.schema_to);
    println!(
        "  erasures: {} tombstones re-applied, {} of them from the repository ({} erased accounts were in the \
         snapshot and were erased again)",
        report.tombstones, report.repository_tombstones, report.erasures_reapplied
    );
    println!(
        "Done in {:.1} s. Start it with: palisade serve --data-dir {}{}",
        started.elapsed().as_secs_f64(),
        to.display(),
        if url.starts_with("sqlite:") { String::new() } else { format!(" --database-url '{}'", db.display_url()) }
    );
    Ok(ExitCode::SUCCESS)
}

/// Clones an export into a new store: the archive is opened and test-restored (rolled back) before the store is
/// created, so a bad archive or passphrase creates nothing.
async fn import_store(
    settings: config::Settings,
    archive_path: &std::path::Path,
    slug: &str,
    owner: &str,
    name: Option<String>,
) -> anyhow::Result<ExitCode> {
    use palisade_backup::export::{self, Archive};
    use palisade_core::text::{Email, Slug};
    use palisade_store::scope::PlatformScope;
    use palisade_store::tenancy::{self, AccountKind, NewStore};

    let slug = Slug::parse(slug)?;
    let owner = Email::parse(owner)?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the passphrase from standard input")?;
    let passphrase = secrecy::SecretString::from(line.trim_end_matches(['\r', '\n']).to_owned());
    let file = std::fs::File::open(archive_path).with_context(|| format!("cannot open {}", archive_path.display()))?;
    let archive = Archive::open(std::io::BufReader::new(file), passphrase)?;
    let inst = runtime::open(settings, runtime::Schema::CheckCurrent).await?;
    let db = &inst.db;
    let result = async {
        let account = tenancy::find_account_by_email(db, &owner)
            .await
            .map_err(runtime::explain)?
            .ok_or_else(|| anyhow::anyhow!("no account {owner}: create it first (it must be a staff account)"))?;
        if account.kind != AccountKind::Staff {
            anyhow::bail!("{owner} is a {} account; store owners must be staff accounts", account.kind.as_str());
        }
        // The operator creates the store: no merchant address to lock out, and country rules are the operator's
        // call (they match nothing on a node without a GeoIP database). Every other save-path check applies.
        let mut ctx = palisade_backup::import_rules::ImportContext {
            client: None,
            country_rules: true,
            by_operator: true,
            may_publish: false,
        };
        export::restore_test(db, &archive, &ctx).await?;
        let archived_name = archive.store_field("name").unwrap_or_else(|| "Imported store".into());
        let currency = archive
            .store_field("currency")
            .and_then(|c| palisade_core::money::Currency::parse(&c).ok())
            .unwrap_or(palisade_core::money::Currency::SGD);
        let (store, scope) = tenancy::create_store(
            db,
            &PlatformScope::system("backup import-store"),
            NewStore { slug, name: name.unwrap_or(archived_name), currency, owner: account.id, security_contact: None },
        )
        .await
        .map_err(runtime::explain)?;
        // The new store is held to the listing gate like any other: unverified, its products arrive as drafts
        // when the operator requires verification before listing.
        ctx.may_publish = palisade_commerce::verification::require_listing_allowed(db, &scope).await.is_ok();
        let mut tx = db.begin_write().await.map_err(runtime::explain)?;
        let report = export::clone_into(&mut tx, db.backend(), &store.id.to_string(), &archive, &ctx).await?;
        tx.commit().await.context("committing the imported store")?;
        let objects = palisade_store::Objects::local(&inst.settings.objects_dir).map_err(runtime::explain)?;
        export::put_objects(&objects, &archive).await?;
        // An archive carries no buyer records, but the step costs little and keeps the rule simple: every path
        // that writes an archive's or a snapshot's rows ends by re-applying the erasures.
        let reapplied = palisade_commerce::erasure::reapply(db, &[]).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok::<_, anyhow::Error>((store, report, reapplied))
    }
    .await;
    inst.db.close().await;
    let (store, report, reapplied) = result?;
    println!("Created store {} ({}) from the archive of {}:", store.slug, store.id, archive.manifest.store_slug);
    for (table, rows) in &report.tables {
        println!("  {table:<18} {rows} rows");
    }
    println!("Orders, money and the audit log stay with the original store; the new store starts without them.");
    println!("Erasures: {} tombstones checked, {} erased again.", reapplied.tombstones, reapplied.erased_again);
    Ok(ExitCode::SUCCESS)
}

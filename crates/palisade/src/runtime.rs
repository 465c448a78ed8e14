//! Opening an installation: data dir, master key, objects dir, database, migrations, controls.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use palisade_core::SystemClock;
use palisade_store::matrix::{NodeFacts, Registry};
use palisade_store::{Db, DbOptions, StoreError, controls, migrate, secrets};

use crate::config::Settings;

/// An open installation.
pub struct Installation {
    pub settings: Settings,
    pub master_key: secrets::MasterKey,
    pub db: Db,
    pub registry: Registry,
    pub facts: NodeFacts,
}

/// Creates the data dir (and its `objects/`) with private permissions if missing, and the master key.
pub fn prepare_data_dir(settings: &Settings) -> anyhow::Result<(secrets::MasterKey, bool)> {
    create_private_dir(&settings.data_dir)?;
    palisade_store::db::check_writable_dir(&settings.data_dir).map_err(explain)?;
    create_private_dir(&settings.objects_dir)?;
    if let Some(parent) = settings.master_key_file.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    secrets::load_or_create(&settings.master_key_file).map_err(explain)
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(30) {
            anyhow::anyhow!(
                "cannot create {}: the location is not writable; choose another with --data-dir",
                dir.display()
            )
        } else {
            anyhow::anyhow!("cannot create {}: {e}", dir.display())
        }
    })
}

/// Turns a storage error into a message with the storage layer's advice intact.
pub fn explain(e: StoreError) -> anyhow::Error {
    anyhow::anyhow!(e.to_string())
}

/// Connects to the database (SQLite file created on first use).
pub async fn connect(settings: &Settings) -> anyhow::Result<Db> {
    Db::connect(&settings.database_url, DbOptions { clock: Arc::new(SystemClock), ..DbOptions::default() })
        .await
        .map_err(explain)
}

/// The registry of every control this build knows.
pub fn registry() -> anyhow::Result<Registry> {
    let mut reg = Registry::default();
    controls::register(&mut reg).map_err(explain).context("registering controls")?;
    palisade_identity::controls::register(&mut reg).map_err(explain).context("registering identity controls")?;
    palisade_commerce::controls::register(&mut reg).map_err(explain).context("registering commerce controls")?;
    palisade_web::edge::shield::register(&mut reg).map_err(explain).context("registering firewall controls")?;
    palisade_web::register_card_testing_control(&mut reg)
        .map_err(explain)
        .context("registering card-testing control")?;
    palisade_backup::controls::register(&mut reg).map_err(explain).context("registering backup controls")?;
    Ok(reg)
}

/// What opening does to the database schema: serve, demo and the admin commands bring it up to date; the others
/// only check that it is current, so that a one-shot command never migrates behind the operator's back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Migrate,
    CheckCurrent,
}

/// Opens the installation, migrating the database or checking it is current as `schema` says.
pub async fn open(settings: Settings, schema: Schema) -> anyhow::Result<Installation> {
    let (master_key, created_key) = prepare_data_dir(&settings)?;
    if let Some(dir) = &settings.pwned_passwords_dir {
        palisade_identity::password::pwned::configure(dir.clone()).map_err(|e| anyhow::anyhow!(e))?;
    }
    if created_key {
        tracing::info!(path = %settings.master_key_file.display(), "generated a new master key (mode 0600); back it up apart from the database");
    }
    let db = connect(&settings).await?;
    if schema == Schema::Migrate {
        // Same path as `palisade migrate`: a verified snapshot first when an existing schema is about to change.
        let ctx = crate::backups::BackupContext { settings: &settings, db: &db, master_key: &master_key };
        let before = crate::upgrade::BeforeMigrating::Snapshot;
        let done = crate::upgrade::migrate(&ctx, before, &palisade_backup::Quiet).await?;
        if let Some(m) = &done.snapshot {
            tracing::info!(backup.snapshot = %m.id, "backup snapshot taken before migrating");
        }
        if done.report.changed() {
            let report = done.report;
            tracing::info!(from = ?report.from, to = report.to, database = db.display_url(), "database migrated");
        }
    } else {
        migrate::check_current(&db).await.map_err(explain)?;
    }
    let facts = NodeFacts { data_dir: settings.data_dir.clone(), master_key_path: settings.master_key_file.clone() };
    Ok(Installation { registry: registry()?, db, facts, settings, master_key })
}

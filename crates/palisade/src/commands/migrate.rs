//! `palisade migrate`

use std::process::ExitCode;

use palisade_store::migrate;

use crate::cli::GlobalArgs;
use crate::{config, runtime};

pub async fn run(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let settings = config::resolve(global, config::ServeFlags::NONE)?;
    runtime::prepare_data_dir(&settings)?;
    let db = runtime::connect(&settings).await?;
    let report = migrate::run(&db).await.map_err(runtime::explain)?;
    match report.from {
        Some(v) if v == report.to => println!("{}: schema already at version {}", db.display_url(), report.to),
        Some(v) => println!("{}: migrated schema from version {v} to {}", db.display_url(), report.to),
        None => println!("{}: created schema at version {}", db.display_url(), report.to),
    }
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

//! `palisade config check`

use std::process::ExitCode;

use palisade_store::{db, migrate, secrets};

use crate::cli::GlobalArgs;
use crate::{config, runtime};

pub async fn run(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let settings = config::resolve(global, config::ServeFlags::NONE)?;
    let mut ok = true;
    println!(
        "configuration file  {}",
        settings.config_file.as_ref().map_or("(none)".into(), |p| p.display().to_string())
    );
    println!("data directory      {}", settings.data_dir.display());
    println!("database            {}", db::redact_url(&settings.database_url));
    println!("master key file     {}", settings.master_key_file.display());
    println!("listen              {}", settings.listen);
    println!("behind TLS          {}", settings.behind_tls);
    println!("log format          {:?}", settings.log_format);
    println!(
        "commerce policy     platform fee {}%, buyer protection {} days",
        settings.commerce.fee_percent_text(),
        settings.commerce.protection_days()
    );
    println!();
    let mut check = |label: &str, result: Result<String, String>| match &result {
        Ok(detail) => println!("ok    {label}: {detail}"),
        Err(why) => {
            ok = false;
            println!("FAIL  {label}: {why}");
        }
    };
    check(
        "data directory writable",
        if settings.data_dir.is_dir() {
            db::check_writable_dir(&settings.data_dir).map(|()| "yes".to_owned()).map_err(|e| e.to_string())
        } else {
            Err("does not exist yet (`palisade serve` or `palisade migrate` creates it)".to_owned())
        },
    );
    check(
        "master key private",
        match secrets::file_mode(&settings.master_key_file) {
            Some(m) if m & 0o077 == 0 => Ok(format!("mode {m:o}")),
            Some(m) => Err(format!("mode {m:o}: run chmod 600 {}", settings.master_key_file.display())),
            None => Err("missing (created on first start)".to_owned()),
        },
    );
    let db_ok = if settings.database_in_data_dir && !settings.data_dir.is_dir() {
        check("database reachable", Err("not created yet".into()));
        None
    } else {
        match runtime::connect(&settings).await {
            Ok(db) => {
                check("database reachable", Ok(db.backend().name().into()));
                Some(db)
            }
            Err(e) => {
                check("database reachable", Err(e.to_string()));
                None
            }
        }
    };
    if let Some(db) = db_ok {
        check(
            "schema current",
            migrate::check_current(&db)
                .await
                .map(|()| format!("version {}", migrate::known_version(db.backend())))
                .map_err(|e| e.to_string()),
        );
        db.close().await;
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

//! `palisade audit verify`

use std::process::ExitCode;

use palisade_store::audit;

use super::Output;
use crate::cli::GlobalArgs;
use crate::{config, runtime};

pub async fn verify(global: &GlobalArgs, chain: Option<String>, output: Output) -> anyhow::Result<ExitCode> {
    let settings = config::resolve(global, config::ServeFlags::NONE)?;
    let inst = runtime::open(settings, runtime::Schema::CheckCurrent).await?;
    let reports = match chain {
        Some(c) => vec![
            audit::verify_chain(&inst.db, &audit::parse_chain(&c).map_err(runtime::explain)?)
                .await
                .map_err(runtime::explain)?,
        ],
        None => audit::verify_all(&inst.db).await.map_err(runtime::explain)?,
    };
    let first_break = reports.iter().find_map(|r| r.broken.clone());
    if output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"chains": reports, "ok": first_break.is_none()}))?
        );
    } else {
        for r in &reports {
            match &r.broken {
                None => println!("ok      {:<38} {} events", r.chain, r.events),
                Some(b) => println!("BROKEN  {:<38} {b}", r.chain),
            }
        }
        let events: i64 = reports.iter().map(|r| r.events).sum();
        match &first_break {
            None => println!("\n{} chain(s), {events} event(s): every link verifies.", reports.len()),
            Some(b) => {
                println!(
                    "\nTampering detected. First broken link: event {} (chain {}, seq {}).",
                    b.event_id.as_deref().unwrap_or("-"),
                    b.chain,
                    b.seq
                );
            }
        }
    }
    inst.db.close().await;
    Ok(if first_break.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

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
    let training = training_mismatches(&inst.db, &reports).await?;
    let ok = first_break.is_none() && training.is_empty();
    if output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"chains": reports, "training": training, "ok": ok}))?
        );
    } else {
        for r in &reports {
            match &r.broken {
                None => println!("ok      {:<38} {} events", r.chain, r.events),
                Some(b) => println!("BROKEN  {:<38} {b}", r.chain),
            }
        }
        for (store, m) in &training {
            println!("BROKEN  {store:<38} training record {}: {}", m.completion, m.problem);
        }
        let events: i64 = reports.iter().map(|r| r.events).sum();
        match &first_break {
            None if !training.is_empty() => println!(
                "\n{} chain(s), {events} event(s): every link verifies, but {} training record(s) differ from the \
                 audit chain (edited or deleted).",
                reports.len(),
                training.len()
            ),
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
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Training completions that no longer match their audit events, in the store chains verified: an edited or
/// deleted record (the events themselves are covered by the chain).
async fn training_mismatches(
    db: &palisade_store::Db,
    reports: &[audit::ChainReport],
) -> anyhow::Result<Vec<(String, palisade_store::training::Mismatch)>> {
    let mut out = Vec::new();
    for r in reports {
        let Ok(store) = r.chain.parse::<palisade_core::StoreId>() else { continue };
        let scope = palisade_store::StoreScope::system(store, "cli:audit.verify");
        for m in palisade_store::training::verify(db, &scope).await.map_err(runtime::explain)? {
            out.push((r.chain.clone(), m));
        }
    }
    Ok(out)
}

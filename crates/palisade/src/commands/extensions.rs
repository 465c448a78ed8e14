//! `palisade extensions publisher|publish|list`: the operator's side of the extension catalog. A release is
//! verified against its publisher's registered key before it enters the catalog, and again whenever a store
//! installs or updates it.

use std::process::ExitCode;

use anyhow::Context;
use palisade_store::extensions;
use palisade_store::scope::PlatformScope;

use crate::cli::{ExtensionsCommand, GlobalArgs};
use crate::{config, runtime};

pub async fn run(global: &GlobalArgs, command: ExtensionsCommand) -> anyhow::Result<ExitCode> {
    let settings = config::resolve(global, config::ServeFlags::NONE)?;
    let inst = runtime::open(settings, runtime::Schema::CheckCurrent).await?;
    let platform = PlatformScope::system("cli:extensions");
    let result = match command {
        ExtensionsCommand::Publisher { handle, key } => {
            let text = std::fs::read_to_string(&key).with_context(|| format!("reading {}", key.display()))?;
            palisade_web::extensions::register_publisher(&inst.db, &platform, &handle, &text)
                .await
                .map(|id| println!("Publisher {handle} registered with key {id}."))
        }
        ExtensionsCommand::Publish { publisher, archive, signature } => {
            let sig_path = signature.unwrap_or_else(|| {
                let mut name = archive.clone().into_os_string();
                name.push(".minisig");
                name.into()
            });
            let bytes = std::fs::read(&archive).with_context(|| format!("reading {}", archive.display()))?;
            let sig = std::fs::read_to_string(&sig_path).with_context(|| format!("reading {}", sig_path.display()))?;
            let objects = palisade_store::Objects::local(&inst.settings.objects_dir).map_err(runtime::explain)?;
            palisade_web::extensions::publish(&inst.db, &objects, &platform, &publisher, &bytes, &sig).await.map(
                |(release, outcome)| {
                    let what = match outcome {
                        extensions::Published::New => "published",
                        extensions::Published::Unchanged => "already published with these exact bytes; unchanged",
                    };
                    println!("{} {} ({}): {what}.", release.extension_id, release.version, release.name);
                    println!("  sha256 {}  scopes: {}", release.sha256, release.scopes.join(", "));
                },
            )
        }
        ExtensionsCommand::List => {
            let all = extensions::releases(&inst.db).await.map_err(runtime::explain)?;
            if all.is_empty() {
                println!("The catalog is empty.");
            }
            for r in all {
                println!(
                    "{} {}  {}  by {}  scopes: {}",
                    r.extension_id,
                    r.version,
                    r.name,
                    r.publisher,
                    r.scopes.join(",")
                );
            }
            Ok(())
        }
    };
    inst.db.close().await;
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("refused ({}): {}", e.code, e.message);
            Ok(ExitCode::from(2))
        }
    }
}

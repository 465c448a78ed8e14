//! The demo's extension catalog: a publisher whose signing key is made for this demo (and thrown away), three
//! signed releases of one extension (a stylesheet and a WebAssembly product block) published over the six weeks, an
//! external app (a token and webhooks when a merchant installs it), and two installs — one store updating
//! by hand and behind (its Security Center says so), one kept current automatically. Every release goes through
//! the same verification as an operator's upload, and every install through the same checks as a merchant's.

use std::io::Cursor;

use anyhow::Context;
use palisade_core::time::{ManualClock, Timestamp};
use palisade_store::extensions::{self, Policy};
use palisade_store::scope::{PlatformScope, StaffScope};
use palisade_store::{Db, Objects};

use super::demo_history::Trader;

const PUBLISHER: &str = "palisade-labs";
const EXTENSION: &str = "com.palisade-labs.trust-badges";
const DAY: i64 = 24 * 3600 * 1000;

/// (version, published days ago, stylesheet)
const RELEASES: [(&str, i64, &str); 3] = [
    ("1.0.0", 40, ".trust-badges { display: flex; gap: .5rem; }\n"),
    ("1.1.0", 20, ".trust-badges { display: flex; gap: .5rem; flex-wrap: wrap; }\n"),
    ("1.1.1", 2, ".trust-badges { display: flex; gap: .5rem; flex-wrap: wrap; font-size: .9rem; }\n"),
];

fn manifest(version: &str) -> String {
    format!(
        "manifest_version = 1\nid = \"{EXTENSION}\"\nname = \"Trust badges\"\npublisher = \"{PUBLISHER}\"\n\
         version = \"{version}\"\npalisade = \">=0.1, <0.3\"\nscopes = [\"products\"]\ncustomer_data_level = 0\n\
         webhooks = []\n\n[theme]\nroot = \"theme\"\n\n[plugin]\nmodule = \"plugin/badges.wasm\"\n\
         hooks = [\"product_block\"]\n"
    )
}

const APP: &str = "com.palisade-labs.sheets-sync";

/// An app: orders and products, no customer data, three webhooks to the publisher's (fictional) service.
const APP_MANIFEST: &str = "manifest_version = 1\nid = \"com.palisade-labs.sheets-sync\"\nname = \"Sheets sync\"\n\
    publisher = \"palisade-labs\"\nversion = \"1.0.0\"\npalisade = \">=0.1, <0.3\"\nscopes = [\"orders\", \"products\"]\n\
    customer_data_level = 0\nwebhooks = [\"order.paid\", \"product.updated\", \"app.uninstalled\"]\n\n[app]\n\
    redirect_urls = [\"https://sheets.palisade-labs.example/connect\"]\n\
    webhook_url = \"https://sheets.palisade-labs.example/palisade/hooks\"\n";

/// What the demo plugin's product block says.
const BLOCK: &str = "<p><strong>Gift-ready:</strong> every order ships in recyclable packaging, \
                     with a handwritten note on request.</p>";

/// The demo plugin: a WebAssembly module (assembled from its text form) whose `product_block` returns [`BLOCK`].
fn plugin() -> anyhow::Result<Vec<u8>> {
    let data: String = BLOCK.bytes().map(|b| format!("\\{b:02x}")).collect();
    let text = format!(
        r#"(module
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 4096))
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $n)))
    (local.get $p))
  (data (i32.const 16) "{data}")
  (func (export "product_block") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const {len}))))"#,
        len = BLOCK.len()
    );
    Ok(wat::parse_str(text)?)
}

/// Publishes the demo releases and installs them in the first two stores; nothing if the publisher exists.
pub async fn seed(
    db: &Db,
    clock: &ManualClock,
    objects: &Objects,
    now: Timestamp,
    traders: &[Trader],
) -> anyhow::Result<()> {
    if extensions::publisher(db, PUBLISHER).await?.is_some() {
        return Ok(());
    }
    let keys = minisign::KeyPair::generate_unencrypted_keypair().context("making the demo publisher's key")?;
    let platform = PlatformScope::system("demo");
    clock.set(Timestamp(now.0 - 45 * DAY));
    palisade_web::extensions::register_publisher(db, &platform, PUBLISHER, &keys.pk.to_base64())
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    for (version, days_ago, css) in RELEASES {
        clock.set(Timestamp(now.0 - days_ago * DAY));
        let manifest = manifest(version);
        let wasm = plugin()?;
        let archive = palisade_registry::build_package(&[
            ("palisade-extension.toml", manifest.as_bytes()),
            ("theme/theme.css", css.as_bytes()),
            ("plugin/badges.wasm", wasm.as_slice()),
            ("README.md", b"# Trust badges\n\nShows the store's buyer-protection and verified-seller badges.\n"),
        ])?;
        let comment = format!("{EXTENSION} {version}");
        let signature = minisign::sign(Some(&keys.pk), &keys.sk, Cursor::new(&archive), Some(&comment), None)
            .context("signing a demo release")?
            .into_string();
        palisade_web::extensions::publish(db, objects, &platform, PUBLISHER, &archive, &signature)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    }
    // An external app in the catalog, for a merchant to install (its token and webhook secrets are shown to the
    // person installing it, so the demo does not install it for them).
    clock.set(Timestamp(now.0 - 10 * DAY));
    let archive = palisade_registry::build_package(&[
        ("palisade-extension.toml", APP_MANIFEST.as_bytes()),
        ("README.md", b"# Sheets sync\n\nCopies paid orders and product changes into a spreadsheet.\n"),
    ])?;
    let signature = minisign::sign(Some(&keys.pk), &keys.sk, Cursor::new(&archive), Some(APP), None)
        .context("signing the demo app")?
        .into_string();
    palisade_web::extensions::publish(db, objects, &platform, PUBLISHER, &archive, &signature)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    // Installed from the catalog as a merchant would (the releases were checked at publication; the web path
    // checks again at install).
    let plan = [(0usize, "1.0.0", Policy::Manual, 35i64), (1, "1.1.0", Policy::Minor, 15)];
    for (i, version, policy, days_ago) in plan {
        let Some(trader) = traders.get(i) else { continue };
        clock.set(Timestamp(now.0 - days_ago * DAY));
        let scope = StaffScope::system(trader.store, "demo");
        extensions::install(db, &scope, EXTENSION, version, policy, 3).await?;
    }
    clock.set(now);
    Ok(())
}

/// The demo's advisories feed: one OSV advisory against the demo extension before 1.1.0 (fixed there), so the store
/// still on 1.0.0 sees a finding with its fix and the operator's view has something to show. Written into `dir`
/// (created if missing) each start; `serve --demo` uses it when no `--advisories-dir` is given.
pub fn write_feed(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let advisory = serde_json::json!({
        "schema_version": "1.7.0",
        "id": "PAL-EXT-2026-0007",
        "modified": "2026-11-20T00:00:00Z",
        "published": "2026-11-20T00:00:00Z",
        "summary": "Trust badges before 1.1.0 print a product's title into the badge caption without escaping it",
        "details": "A product title containing HTML is printed as-is in the badge caption. Fixed in 1.1.0.",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
        "affected": [{
            "package": {"ecosystem": "Palisade-Extension", "name": EXTENSION},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.1.0"}]}]
        }]
    });
    let path = dir.join("PAL-EXT-2026-0007.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&advisory)?).with_context(|| format!("writing {}", path.display()))
}

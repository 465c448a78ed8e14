//! Malicious merchant, second round: a store import is no back door around the permissions and the save-time
//! checks of what it writes (security settings, firewall, rules, theme, texts).

use std::collections::BTreeMap;

use palisade_backup::export::Archive;
use palisade_commerce::catalog;
use palisade_commerce::{orders, themes};
use palisade_store::StaffScope;
use palisade_store::firewall;
use palisade_store::tenancy::Role;
use reqwest::StatusCode;
use secrecy::SecretString;

use crate::backups::upload;
use crate::support::Csrf as _;
use crate::support::{TestApp, grant_exactly, listing, login, owner_of, staff};

const PASS: &str = "lantern harbour tea 2026";

async fn post(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.client.post(app.url(path)).csrf(app, cookie).form(form).send().await.unwrap()
}

/// A staff member of the store holding exactly the role's defaults and `grants`, signed in.
async fn staff_with(app: &TestApp, scope: &StaffScope, email: &str, grants: &[&str]) -> String {
    let a = staff(email).named("Helper").member_of(app, scope, Role::Staff).await;
    grant_exactly(app, scope, a.id, grants).await;
    login(app, email).await
}

/// A store with a product, a theme template, a rule, firewall settings and a tagline, and one export of it.
async fn exported_store(app: &TestApp) -> (String, StaffScope, String, Archive) {
    let (s, scope, cookie) = owner_of(app, "alpha").await;
    listing("oolong")
        .title("Oolong")
        .description("Roasted.")
        .sku("OOL-1")
        .price(1200)
        .stock(4)
        .create(app, &scope)
        .await;
    themes::save(&app.db, &scope, "product.html", "<h1>{{ product.title }}</h1>").await.unwrap();
    firewall::add_rule(&app.db, &scope, "block if path = \"/wp-login.php\"").await.unwrap();
    firewall::set_waf(&app.db, &scope, Some("block"), Some(2)).await.unwrap();
    orders::set_settings(&app.db, &scope, 500, "Fine tea").await.unwrap();
    let base = format!("/admin/stores/{}/backups", s.id);
    let res = post(app, &format!("{base}/export"), &cookie, &[("passphrase", PASS), ("repeat", PASS)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let export = palisade_backup::store_exports::list(&app.db, &scope, 1).await.unwrap().remove(0);
    let bytes = palisade_backup::store_exports::archive_bytes(&app.db, &scope, &app.objects, &export.id).await.unwrap();
    let archive = Archive::open(bytes.as_slice(), SecretString::from(PASS.to_owned())).unwrap();
    (s.id.to_string(), scope, cookie, archive)
}

/// The archive with `table`'s file edited by `edit`, re-sealed with the merchant's passphrase (manifest hashes
/// recomputed): what anyone holding the passphrase can make.
fn crafted(archive: &Archive, table: &str, edit: impl FnOnce(String) -> String) -> Vec<u8> {
    use sha2::Digest;
    let mut files: BTreeMap<String, Vec<u8>> = archive.files.clone().into_iter().collect();
    let path = format!("tables/{table}.jsonl");
    let text = String::from_utf8(files[&path].clone()).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit of {table} changed nothing");
    files.insert(path, edited.into_bytes());
    let mut manifest = archive.manifest.clone();
    for f in &mut manifest.files {
        f.bytes = files[&f.path].len() as u64;
        f.sha256 = hex::encode(sha2::Sha256::digest(&files[&f.path]));
    }
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data) in files.into_iter().chain([("manifest.json".to_owned(), serde_json::to_vec(&manifest).unwrap())])
    {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_cksum();
        tar.append_data(&mut header, path, data.as_slice()).unwrap();
    }
    let plain = zstd::encode_all(tar.into_inner().unwrap().as_slice(), 3).unwrap();
    let mut recipient = age::scrypt::Recipient::new(SecretString::from(PASS.to_owned()));
    recipient.set_work_factor(10);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient)).unwrap();
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).unwrap();
    std::io::Write::write_all(&mut w, &plain).unwrap();
    w.finish().unwrap();
    out
}

/// Uploads `bytes` as `cookie` and returns the kept archive's id.
async fn kept(app: &TestApp, store: &str, scope: &StaffScope, cookie: &str, bytes: &[u8]) -> String {
    assert_eq!(upload(app, store, cookie, "crafted.palx", bytes).await.status(), StatusCode::SEE_OTHER);
    palisade_backup::store_exports::list(&app.db, scope, 1).await.unwrap().remove(0).id
}

async fn firewall_of(app: &TestApp, scope: &StaffScope) -> (Option<String>, Vec<String>) {
    let fw = firewall::get(&app.db, scope).await.unwrap();
    (fw.waf_mode, fw.admin_allowlist)
}

/// A helper with products and customer data (what the backups page and import asked for) but without security
/// settings or the theme: an archive that turns the store's firewall off, or swaps its theme, is refused with
/// 403 and nothing is written. The owner can import the same archive; the helper can import one that changes
/// only the catalog.
#[tokio::test]
async fn an_import_needs_the_permission_of_every_table_it_changes() {
    let app = TestApp::start().await;
    let (store, scope, owner_cookie, archive) = exported_store(&app).await;
    let helper = staff_with(&app, &scope, "helper@alpha.example", &["customer_data"]).await;
    let base = format!("/admin/stores/{store}/backups");

    let waf_off = crafted(&archive, "store_firewall", |t| t.replace("\"block\"", "\"off\""));
    let theme = crafted(&archive, "theme_templates", |t| t.replace("<h1>", "<h2>").replace("</h1>", "</h2>"));
    for (what, bytes) in [("firewall", &waf_off), ("theme", &theme)] {
        let id = kept(&app, &store, &scope, &helper, bytes).await;
        let res = post(&app, &format!("{base}/{id}/import"), &helper, &[("passphrase", PASS)]).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
        assert!(body.contains("permission"), "{what}: {body}");
    }
    assert_eq!(firewall_of(&app, &scope).await.0.as_deref(), Some("block"), "the firewall is untouched");
    let versions = themes::versions(&app.db, &scope).await.unwrap();
    assert!(versions.iter().all(|v| !v.source.contains("<h2>")), "the theme is untouched");

    // A catalog-only change is the helper's to import.
    let catalog_only = crafted(&archive, "products", |t| t.replace("Roasted.", "Roasted twice."));
    let id = kept(&app, &store, &scope, &helper, &catalog_only).await;
    let res = post(&app, &format!("{base}/{id}/import"), &helper, &[("passphrase", PASS)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
    let products = catalog::list_products(&app.db, &scope, 10, 0).await.unwrap();
    assert_eq!(products[0].description, "Roasted twice.");

    // The owner holds every permission: the firewall archive imports, and the change is in the audit log.
    let id = kept(&app, &store, &scope, &owner_cookie, &waf_off).await;
    let res = post(&app, &format!("{base}/{id}/import"), &owner_cookie, &[("passphrase", PASS)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
    assert_eq!(firewall_of(&app, &scope).await.0.as_deref(), Some("off"));
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE store_id = $1 AND action = 'store.imported'")
            .bind(scope.store_key())
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(n, 2, "each import that wrote is audited");
}

/// Rows the save paths would refuse are refused by preview and import alike (422, naming the table), before
/// anything is written — even for the owner.
#[tokio::test]
async fn an_import_passes_the_same_checks_as_the_save_paths() {
    let app = TestApp::start().await;
    let (store, scope, cookie, archive) = exported_store(&app).await;
    let base = format!("/admin/stores/{store}/backups");
    type Edit = Box<dyn FnOnce(String) -> String>;
    let cases: Vec<(&str, &str, Edit)> = vec![
        // `safe` is removed from the sandbox: the trial render fails.
        (
            "theme_templates",
            "sample data",
            Box::new(|t| t.replace("{{ product.title }}", "{{ product.title | safe }}")),
        ),
        ("theme_templates", "not a template merchants can edit", Box::new(|t| t.replace("product.html", "cart.html"))),
        ("theme_templates", "does not compile", Box::new(|t| t.replace("<h1>", "{% for %}<h1>"))),
        ("store_rules", "does not parse", Box::new(|t| t.replace("block if path", "block when path"))),
        ("store_firewall", "firewall mode", Box::new(|t| t.replace("\"block\"", "\"blok\""))),
        ("store_firewall", "paranoia", Box::new(|t| t.replace("\",2]", "\",9]"))),
        ("store_firewall", "lock you out", Box::new(|t| t.replace("\"[]\"", "\"[\\\"10.9.9.0/24\\\"]\""))),
        ("store_firewall", "not an address", Box::new(|t| t.replace("\"[]\"", "\"[\\\"everyone\\\"]\""))),
        ("store_commerce", "tagline", Box::new(|t| t.replace("Fine tea", "Fine\\u0007tea"))),
        ("store_commerce", "negative", Box::new(|t| t.replace(",500,", ",-500,"))),
        ("products", "title", Box::new(|t| t.replace("\"Oolong\"", "\"\\u001b[31mOolong\""))),
        ("products", "markup", Box::new(|t| t.replace("Roasted.", "<img src=x onerror=alert(1)>"))),
        ("products", "status", Box::new(|t| t.replace("\"published\"", "\"secret\""))),
        ("variants", "SKU", Box::new(|t| t.replace("OOL-1", "OOL 1<script>"))),
        ("variants", "currency", Box::new(|t| t.replace("\"SGD\"", "\"USD\""))),
        ("variants", "negative", Box::new(|t| t.replace(",1200,", ",-1200,"))),
    ];
    let before = (firewall_of(&app, &scope).await, themes::versions(&app.db, &scope).await.unwrap().len());
    for (table, expect, edit) in cases {
        let bytes = crafted(&archive, table, edit);
        let id = kept(&app, &store, &scope, &cookie, &bytes).await;
        for action in ["preview", "import"] {
            let res = post(&app, &format!("{base}/{id}/{action}"), &cookie, &[("passphrase", PASS)]).await;
            let status = res.status();
            let body = res.text().await.unwrap();
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{table}/{expect} {action}: {body}");
            assert!(body.contains(table) && body.contains(expect), "{table}/{expect} {action}: {body}");
        }
        // The restore test runs the same checks: an archive import would refuse does not "restore".
        let res = post(&app, &format!("{base}/{id}/restore-test"), &cookie, &[("passphrase", PASS)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{table}/{expect} restore test");
        let run = palisade_backup::store_exports::list(&app.db, &scope, 1).await.unwrap().remove(0);
        assert_eq!(run.kind, "restore-test", "{table}/{expect}");
        assert!(run.outcome != "ok", "{table}/{expect}: the restore test passed an archive import refuses");
        assert!(run.detail.contains(table) && run.detail.contains(expect), "{table}/{expect}: {}", run.detail);
    }
    let after = (firewall_of(&app, &scope).await, themes::versions(&app.db, &scope).await.unwrap().len());
    assert_eq!(before, after, "nothing was written");
    let products = catalog::list_products(&app.db, &scope, 10, 0).await.unwrap();
    assert_eq!((products[0].title.as_str(), products[0].variants[0].price.minor), ("Oolong", 1200));
}

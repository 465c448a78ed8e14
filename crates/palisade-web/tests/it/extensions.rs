//! Extensions in the Security Center (issue #19 items 2–3), through the real router on both backends: signed
//! releases published, installed, updated by hand and automatically under each policy; what a malicious publisher
//! or merchant tries is refused — another key, a tampered archive, other bytes under a published version, an
//! extension asking for permissions the installer lacks, another store's install, a downgrade, an automatic update
//! to a release that fails its checks or asks for more access; the `store.extensions-current` control follows.

use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, Mutex};

use palisade_core::matrix::ControlStatus;
use palisade_store::extensions::{self, Policy};
use palisade_store::scope::{PlatformScope, StaffScope};
use palisade_store::tenancy::Role;
use palisade_web::{AppState, WebConfig};
use reqwest::StatusCode;

use crate::support::{Csrf as _, TestApp, owner_of, staff};

pub(crate) const ID: &str = "com.example.badges";
pub(crate) const DAY: i64 = 24 * 3600 * 1000;

pub(crate) struct Publisher {
    pub(crate) handle: &'static str,
    keys: minisign::KeyPair,
}

impl Publisher {
    pub(crate) fn new(handle: &'static str) -> Publisher {
        Publisher { handle, keys: minisign::KeyPair::generate_unencrypted_keypair().unwrap() }
    }

    pub(crate) async fn register(&self, app: &TestApp) {
        let platform = PlatformScope::system("test");
        palisade_web::extensions::register_publisher(&app.db.db, &platform, self.handle, &self.keys.pk.to_base64())
            .await
            .unwrap();
    }

    pub(crate) fn sign(&self, archive: &[u8]) -> String {
        minisign::sign(Some(&self.keys.pk), &self.keys.sk, Cursor::new(archive), Some("test"), None)
            .unwrap()
            .into_string()
    }
}

/// A theme extension release: `css` is its stylesheet (a stylesheet the theme checks refuse makes a release that
/// fails its health check).
pub(crate) fn package(publisher: &str, id: &str, version: &str, scopes: &str, css: &str) -> Vec<u8> {
    package_at(publisher, id, version, scopes, 0, css)
}

fn package_at(publisher: &str, id: &str, version: &str, scopes: &str, level: u8, css: &str) -> Vec<u8> {
    let manifest = format!(
        "manifest_version = 1\nid = \"{id}\"\nname = \"Badges\"\npublisher = \"{publisher}\"\nversion = \"{version}\"\n\
         palisade = \">=0.1\"\nscopes = [{scopes}]\ncustomer_data_level = {level}\n\n[theme]\nroot = \"theme\"\n"
    );
    palisade_registry::build_package(&[
        ("palisade-extension.toml", manifest.as_bytes()),
        ("theme/theme.css", css.as_bytes()),
    ])
    .unwrap()
}

pub(crate) const GOOD_CSS: &str = ".badges { display: flex; }\n";
/// Refused by the theme checks (`@import`).
const BAD_CSS: &str = "@import url(https://evil.example/x.css);\n";

pub(crate) async fn publish(
    app: &TestApp,
    p: &Publisher,
    version: &str,
    scopes: &str,
    css: &str,
) -> Result<(), String> {
    let archive = package(p.handle, ID, version, scopes, css);
    let platform = PlatformScope::system("test");
    palisade_web::extensions::publish(&app.db.db, &app.objects, &platform, p.handle, &archive, &p.sign(&archive))
        .await
        .map(|_| ())
        .map_err(|e| e.code.to_owned())
}

/// Moves a release's publication back in time (the catalog writes the database clock's now).
pub(crate) async fn published_days_ago(app: &TestApp, version: &str, days: i64) {
    sqlx::query("UPDATE extension_releases SET published_at = $1 WHERE extension_id = $2 AND version = $3")
        .bind(app.db.now().0 - days * DAY)
        .bind(ID)
        .bind(version)
        .execute(app.db.pool())
        .await
        .unwrap();
}

pub(crate) async fn post(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.client.post(app.url(path)).csrf(app, cookie).form(form).send().await.unwrap()
}

pub(crate) async fn installed_version(app: &TestApp, store: &str) -> Option<String> {
    sqlx::query_as::<_, (String,)>("SELECT version FROM store_extensions WHERE store_id = $1 AND extension_id = $2")
        .bind(store)
        .bind(ID)
        .fetch_optional(app.db.pool())
        .await
        .unwrap()
        .map(|(v,)| v)
}

pub(crate) async fn audit_actions(app: &TestApp, store: &str) -> Vec<String> {
    sqlx::query_as::<_, (String,)>("SELECT action FROM audit_events WHERE store_id = $1 AND action LIKE 'extension.%'")
        .bind(store)
        .fetch_all(app.db.pool())
        .await
        .unwrap()
        .into_iter()
        .map(|(a,)| a)
        .collect()
}

async fn control(app: &TestApp, scope: &StaffScope) -> ControlStatus {
    store_control(app, scope, "store.extensions-current").await
}

/// The status of the store control `id` for `scope`, evaluated as the matrix does.
pub(crate) async fn store_control(app: &TestApp, scope: &StaffScope, id: &str) -> ControlStatus {
    let dir = tempfile::tempdir().unwrap();
    let facts = Arc::new(palisade_store::matrix::NodeFacts {
        data_dir: dir.path().to_path_buf(),
        master_key_path: dir.path().join("k"),
    });
    let mut reg = palisade_store::matrix::Registry::default();
    palisade_store::controls::register(&mut reg).unwrap();
    let report = reg.evaluate_store(&app.db, &facts, scope).await.unwrap();
    let all = report.areas.iter().flat_map(|a| a.merchant.iter());
    all.clone().find(|r| r.control.id == id).map(|r| r.status.clone()).unwrap()
}

/// An app whose state the test keeps (for the automatic update job), with an optional advisories feed.
pub(crate) async fn app_with_state(feed: Option<&Path>) -> (TestApp, AppState) {
    let kept = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&kept);
    let config = WebConfig { advisories_dir: feed.map(Path::to_path_buf), ..WebConfig::default() };
    let app = TestApp::start_with(config, move |r, s| {
        *slot.lock().unwrap() = Some(s.clone());
        r
    })
    .await;
    let state = kept.lock().unwrap().take().unwrap();
    (app, state)
}

#[tokio::test]
async fn a_signed_release_is_installed_updated_by_hand_and_audited() {
    let app = TestApp::start().await;
    let p = Publisher::new("example-labs");
    p.register(&app).await;
    publish(&app, &p, "1.0.0", "\"products\"", GOOD_CSS).await.unwrap();
    publish(&app, &p, "1.1.0", "\"products\"", GOOD_CSS).await.unwrap();
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let base = format!("/admin/stores/{}/security/extensions", s.id);
    assert_eq!(control(&app, &scope).await, ControlStatus::NotApplicable { reason: "no extensions installed".into() });
    let page = app.client.get(app.url(&base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Install 1.1.0"), "the catalog offers the newest release");

    let form = [("extension", ID), ("version", "1.0.0"), ("policy", "manual"), ("delay_days", "")];
    assert_eq!(post(&app, &format!("{base}/install"), &cookie, &form).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(installed_version(&app, &s.id.to_string()).await.as_deref(), Some("1.0.0"));
    let again = post(&app, &format!("{base}/install"), &cookie, &form).await;
    assert_eq!(again.status(), StatusCode::CONFLICT, "installed twice");
    let text = app.client.get(app.url(&base)).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("update available") && text.contains("Update now"), "{text}");

    let update = format!("{base}/{ID}/update");
    assert_eq!(post(&app, &update, &cookie, &[("version", "1.1.0")]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(installed_version(&app, &s.id.to_string()).await.as_deref(), Some("1.1.0"));
    let down = post(&app, &update, &cookie, &[("version", "1.0.0")]).await;
    assert_eq!(down.status(), StatusCode::UNPROCESSABLE_ENTITY, "a downgrade is refused");
    assert_eq!(installed_version(&app, &s.id.to_string()).await.as_deref(), Some("1.1.0"));

    let policy = format!("{base}/{ID}/policy");
    assert_eq!(post(&app, &policy, &cookie, &[("policy", "minor"), ("delay_days", "2")]).await.status(), 303);
    let bad = post(&app, &policy, &cookie, &[("policy", "sometimes"), ("delay_days", "2")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let long = post(&app, &policy, &cookie, &[("policy", "minor"), ("delay_days", "99")]).await;
    assert_eq!(long.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(post(&app, &format!("{base}/{ID}/remove"), &cookie, &[]).await.status(), 303);
    assert_eq!(installed_version(&app, &s.id.to_string()).await, None);
    let actions = audit_actions(&app, &s.id.to_string()).await;
    for action in ["extension.installed", "extension.updated", "extension.policy_changed", "extension.uninstalled"] {
        assert!(actions.iter().any(|a| a == action), "{action} audited: {actions:?}");
    }
}

#[tokio::test]
async fn a_publisher_cannot_sign_with_another_key_rewrite_a_release_or_take_an_id() {
    let app = TestApp::start().await;
    let p = Publisher::new("example-labs");
    p.register(&app).await;
    let intruder = Publisher::new("intruder-labs");
    intruder.register(&app).await;
    // Signed with another key than the one registered for the manifest's publisher.
    let archive = package(p.handle, ID, "1.0.0", "", GOOD_CSS);
    let platform = PlatformScope::system("test");
    let forged = palisade_web::extensions::publish(
        &app.db.db,
        &app.objects,
        &platform,
        p.handle,
        &archive,
        &intruder.sign(&archive),
    )
    .await;
    assert!(forged.is_err_and(|e| e.code.starts_with("signature_")), "another key's signature");
    // A manifest naming another publisher than the key's.
    let claimed = palisade_web::extensions::publish(
        &app.db.db,
        &app.objects,
        &platform,
        intruder.handle,
        &archive,
        &intruder.sign(&archive),
    )
    .await;
    assert!(claimed.is_err(), "the manifest's publisher is not the key's");
    publish(&app, &p, "1.0.0", "", GOOD_CSS).await.unwrap();
    assert_eq!(publish(&app, &p, "1.0.0", "", GOOD_CSS).await, Ok(()), "the same bytes again change nothing");
    assert_eq!(
        publish(&app, &p, "1.0.0", "", ".badges { display: block; }").await,
        Err("conflict".to_owned()),
        "other bytes under a published version"
    );
    // Another publisher's release of an id it does not own.
    let theirs = package(intruder.handle, ID, "9.0.0", "", GOOD_CSS);
    let taken = palisade_web::extensions::publish(
        &app.db.db,
        &app.objects,
        &platform,
        intruder.handle,
        &theirs,
        &intruder.sign(&theirs),
    )
    .await;
    assert!(taken.is_err_and(|e| e.code == "conflict"), "the id belongs to its first publisher");
    assert_eq!(extensions::releases(&app.db).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_tampered_archive_or_a_rotated_key_is_refused_at_install() {
    let app = TestApp::start().await;
    let p = Publisher::new("example-labs");
    p.register(&app).await;
    publish(&app, &p, "1.0.0", "", GOOD_CSS).await.unwrap();
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let base = format!("/admin/stores/{}/security/extensions", s.id);
    let release = extensions::release(&app.db, ID, "1.0.0").await.unwrap().unwrap();
    // Someone with write access to the catalog points the release at another signed archive.
    let other = package(p.handle, ID, "1.0.0", "", ".badges { color: red; }");
    let swapped = app.objects.put_content("extensions", bytes::Bytes::from(other)).await.unwrap();
    let point = |key: String| {
        sqlx::query("UPDATE extension_releases SET object_key = $1 WHERE extension_id = $2")
            .bind(key)
            .bind(ID)
            .execute(app.db.pool())
    };
    point(swapped).await.unwrap();
    let form = [("extension", ID), ("version", "1.0.0"), ("policy", "manual")];
    let res = post(&app, &format!("{base}/install"), &cookie, &form).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("not the bytes that were published"));
    assert_eq!(installed_version(&app, &s.id.to_string()).await, None, "nothing installed");

    // The original bytes back, but the publisher's key was rotated since: the old signature no longer verifies.
    point(release.object_key.clone()).await.unwrap();
    Publisher { handle: p.handle, keys: minisign::KeyPair::generate_unencrypted_keypair().unwrap() }
        .register(&app)
        .await;
    let res = post(&app, &format!("{base}/install"), &cookie, &form).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(installed_version(&app, &s.id.to_string()).await, None);
}

#[tokio::test]
async fn installing_needs_every_permission_the_extension_asks_for_and_stays_in_its_store() {
    let app = TestApp::start().await;
    let p = Publisher::new("example-labs");
    p.register(&app).await;
    publish(&app, &p, "1.0.0", "\"payouts\"", GOOD_CSS).await.unwrap();
    let (s, scope, owner_cookie) = owner_of(&app, "alpha").await;
    let base = format!("/admin/stores/{}/security/extensions", s.id);
    let form = [("extension", ID), ("version", "1.0.0"), ("policy", "manual")];
    // An admin holds security settings but not payouts: they cannot hand an extension payouts access.
    let (_, admin) = staff("admin@alpha.example").signed_in_member(&app, &scope, Role::Admin).await;
    let res = post(&app, &format!("{base}/install"), &admin, &form).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("permissions you do not have: payouts"));
    // Staff without security settings cannot even see the tab.
    let (_, clerk) = staff("clerk@alpha.example").signed_in_member(&app, &scope, Role::Staff).await;
    let res = app.client.get(app.url(&base)).header("cookie", &clerk).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Customer data at level 2 without the scope listed is still customer data: a member granted security
    // settings alone cannot install it.
    let archive = package_at(p.handle, "com.example.peek", "1.0.0", "", 2, GOOD_CSS);
    let platform = PlatformScope::system("test");
    palisade_web::extensions::publish(&app.db.db, &app.objects, &platform, p.handle, &archive, &p.sign(&archive))
        .await
        .unwrap();
    let (officer, officer_cookie) = staff("officer@alpha.example").signed_in_member(&app, &scope, Role::Staff).await;
    crate::support::grant_exactly(&app, &scope, officer.id, &["security_settings"]).await;
    let peek = [("extension", "com.example.peek"), ("version", "1.0.0"), ("policy", "manual")];
    let res = post(&app, &format!("{base}/install"), &officer_cookie, &peek).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "{:?}", res.headers().get("location"));
    assert!(res.text().await.unwrap().contains("customer_data"));
    assert_eq!(post(&app, &format!("{base}/install"), &owner_cookie, &form).await.status(), 303);

    // Another store's owner: not through their own store's address, not through this one's.
    let (b, _, b_cookie) = owner_of(&app, "bravo").await;
    let theirs = format!("/admin/stores/{}/security/extensions/{ID}", b.id);
    let mine = format!("{base}/{ID}");
    for path in [format!("{theirs}/remove"), format!("{mine}/remove")] {
        let res = post(&app, &path, &b_cookie, &[]).await;
        assert!(matches!(res.status().as_u16(), 403 | 404), "{path}: {}", res.status());
    }
    let res = post(&app, &format!("{mine}/policy"), &b_cookie, &[("policy", "minor")]).await;
    assert!(matches!(res.status().as_u16(), 403 | 404));
    assert_eq!(installed_version(&app, &s.id.to_string()).await.as_deref(), Some("1.0.0"));
    assert_eq!(installed_version(&app, &b.id.to_string()).await, None);
}

#[tokio::test]
async fn automatic_updates_follow_the_policy_and_a_failing_release_never_goes_live() {
    let (app, state) = app_with_state(None).await;
    let p = Publisher::new("example-labs");
    p.register(&app).await;
    publish(&app, &p, "1.0.0", "\"products\"", GOOD_CSS).await.unwrap();
    let (s, scope, _) = owner_of(&app, "alpha").await;
    let store = s.id.to_string();
    extensions::install(&app.db, &scope, ID, "1.0.0", Policy::Minor, 3).await.unwrap();

    // 1.0.1 fails the theme checks: not applied, recorded, and the control says so.
    publish(&app, &p, "1.0.1", "\"products\"", BAD_CSS).await.unwrap();
    published_days_ago(&app, "1.0.1", 5).await;
    let run = palisade_web::extensions::auto_update_all(&state).await.unwrap();
    assert_eq!((run.updated, run.failed), (0, 1));
    assert_eq!(installed_version(&app, &store).await.as_deref(), Some("1.0.0"), "the running release stays");
    assert!(matches!(control(&app, &scope).await, ControlStatus::Unmet { reason, .. } if reason.contains("failed")));
    palisade_web::extensions::auto_update_all(&state).await.unwrap();
    let failures = audit_actions(&app, &store).await.iter().filter(|a| *a == "extension.update_failed").count();
    assert_eq!(failures, 1, "one audit event per failing release, not one per run");

    // 1.0.2 is too new for the 3-day delay; once old enough, it is installed and the failure cleared.
    publish(&app, &p, "1.0.2", "\"products\"", GOOD_CSS).await.unwrap();
    published_days_ago(&app, "1.0.2", 1).await;
    palisade_web::extensions::auto_update_all(&state).await.unwrap();
    assert_eq!(installed_version(&app, &store).await.as_deref(), Some("1.0.0"), "within the delay");
    published_days_ago(&app, "1.0.2", 4).await;
    let run = palisade_web::extensions::auto_update_all(&state).await.unwrap();
    assert_eq!(run.updated, 1);
    assert_eq!(installed_version(&app, &store).await.as_deref(), Some("1.0.2"));
    assert!(control(&app, &scope).await.is_met());

    // Neither a new major version nor a release asking for more access is automatic.
    publish(&app, &p, "2.0.0", "\"products\"", GOOD_CSS).await.unwrap();
    publish(&app, &p, "1.1.0", "\"products\", \"orders\"", GOOD_CSS).await.unwrap();
    published_days_ago(&app, "2.0.0", 30).await;
    published_days_ago(&app, "1.1.0", 30).await;
    palisade_web::extensions::auto_update_all(&state).await.unwrap();
    assert_eq!(installed_version(&app, &store).await.as_deref(), Some("1.0.2"));

    // By hand and behind for more than 7 days: the control is unmet.
    extensions::set_policy(&app.db, &scope, ID, Policy::Manual, 0).await.unwrap();
    sqlx::query("UPDATE store_extensions SET last_error = NULL WHERE store_id = $1")
        .bind(&store)
        .execute(app.db.pool())
        .await
        .unwrap();
    assert!(matches!(control(&app, &scope).await, ControlStatus::Unmet { reason, .. } if reason.contains("1.1.0")));
}

#[tokio::test]
async fn a_security_fix_is_installed_at_once_under_the_security_policy() {
    let feed = tempfile::tempdir().unwrap();
    let advisory = serde_json::json!({
        "schema_version": "1.7.0", "id": "PAL-EXT-2026-0001", "modified": "2026-11-01T00:00:00Z",
        "summary": "Stored XSS in the badge caption",
        "affected": [{"package": {"ecosystem": "Palisade-Extension", "name": ID},
                      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.0.1"}]}]}]
    });
    std::fs::write(feed.path().join("ext.json"), serde_json::to_vec(&advisory).unwrap()).unwrap();
    let (app, state) = app_with_state(Some(feed.path())).await;
    let p = Publisher::new("example-labs");
    p.register(&app).await;
    publish(&app, &p, "1.0.0", "", GOOD_CSS).await.unwrap();
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    extensions::install(&app.db, &scope, ID, "1.0.0", Policy::Security, 30).await.unwrap();
    let sync = palisade_web::extensions::sync_advisories(&state).await.unwrap();
    assert_eq!((sync.matches, sync.opened), (1, 1), "the feed is matched against the catalog and the install");
    let page = format!("/admin/stores/{}/security/extensions", s.id);
    let text = app.client.get(app.url(&page)).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("PAL-EXT-2026-0001"), "the advisory shows on the installed extension");
    publish(&app, &p, "1.0.1", "", GOOD_CSS).await.unwrap();
    // The hourly job: the sync checks the new release against the feed, then the update takes it.
    let run = palisade_web::extensions::auto_update_all(&state).await.unwrap();
    assert_eq!(run.updated, 0, "a release no sync has checked is not installed");
    palisade_web::extensions::sync_advisories(&state).await.unwrap();
    let run = palisade_web::extensions::auto_update_all(&state).await.unwrap();
    assert_eq!(run.updated, 1, "a fix published this hour is taken at once");
    assert_eq!(installed_version(&app, &s.id.to_string()).await.as_deref(), Some("1.0.1"));
    let findings = extensions::advisories::findings(&app.db, &scope).await.unwrap();
    assert_eq!(findings[0].state, extensions::advisories::State::Fixed, "the update fixed the finding");
}

/// A WebAssembly plugin whose hook `hook` returns `out`, or never returns (`out` = None: a loop that burns its
/// fuel).
fn hook_plugin(hook: &str, out: Option<&str>) -> Vec<u8> {
    let body = match out {
        Some(out) => {
            let bytes: String = out.bytes().map(|b| format!("\\{b:02x}")).collect();
            format!(
                r#"(data (i32.const 16) "{bytes}")
  (func (export "{hook}") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const {})))"#,
                out.len()
            )
        }
        None => {
            r#"(func (export "product_block") (param i32 i32) (result i64) (loop $l (br $l)) (i64.const 0))"#.into()
        }
    };
    wat::parse_str(format!(
        r#"(module
  (memory (export "memory") 2)
  (global $bump (mut i32) (i32.const 65536))
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $n)))
    (local.get $p))
  {body})"#
    ))
    .unwrap()
}

pub(crate) async fn publish_plugin(app: &TestApp, p: &Publisher, id: &str, out: Option<&str>) {
    publish_hook(app, p, id, "product_block", out).await;
}

async fn publish_hook(app: &TestApp, p: &Publisher, id: &str, hook: &str, out: Option<&str>) {
    let manifest = format!(
        "manifest_version = 1\nid = \"{id}\"\nname = \"Gift wrap\"\npublisher = \"{}\"\nversion = \"1.0.0\"\n\
         palisade = \">=0.1\"\nscopes = []\ncustomer_data_level = 0\n\n[plugin]\nmodule = \"plugin/block.wasm\"\n\
         hooks = [\"{hook}\"]\n",
        p.handle
    );
    let wasm = hook_plugin(hook, out);
    let archive = palisade_registry::build_package(&[
        ("palisade-extension.toml", manifest.as_bytes()),
        ("plugin/block.wasm", wasm.as_slice()),
    ])
    .unwrap();
    let platform = PlatformScope::system("test");
    palisade_web::extensions::publish(&app.db.db, &app.objects, &platform, p.handle, &archive, &p.sign(&archive))
        .await
        .unwrap();
}

pub(crate) async fn page(app: &TestApp, path: &str) -> String {
    let res = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.text().await.unwrap()
}

#[tokio::test]
async fn an_installed_plugin_adds_its_cleaned_block_to_product_pages_of_its_store_only() {
    let app = TestApp::start().await;
    let p = Publisher::new("example-labs");
    p.register(&app).await;
    let block = r#"<p class="verified-seller gift">Free gift wrap on every order</p><script>alert(1)</script><img src=x onerror="alert(2)">"#;
    publish_plugin(&app, &p, "com.example.giftwrap", Some(block)).await;
    let (a, a_scope, _) = owner_of(&app, "alpha").await;
    let (b, b_scope, _) = owner_of(&app, "bravo").await;
    let mine = crate::support::listing("teapot").stock(3).create(&app, &a_scope).await;
    let theirs = crate::support::listing("kettle").stock(3).create(&app, &b_scope).await;
    let path = format!("/s/{}/p/{}", a.slug, mine.slug);
    assert!(!page(&app, &path).await.contains("Free gift wrap"), "nothing before the install");

    extensions::install(&app.db, &a_scope, "com.example.giftwrap", "1.0.0", Policy::Manual, 0).await.unwrap();
    let html = page(&app, &path).await;
    assert!(html.contains("Free gift wrap on every order"), "the block shows at once (the cached page was stale)");
    assert!(html.contains("an extension this shop installed"), "under a caption naming where it comes from");
    assert!(!html.contains("alert("), "no script, no handler");
    assert!(
        !html.contains("verified-seller gift") && !html.contains("ext-verified"),
        "the platform's class names are not the plugin's to use"
    );
    assert!(html.contains(r#"class="ext-gift""#), "a plugin's classes are in its own namespace");
    assert!(!page(&app, &format!("/s/{}/p/{}", b.slug, theirs.slug)).await.contains("Free gift wrap"));

    // A theme printing the slot a thousand times gets the block once.
    let template = r#"{% extends "layout.html" %}{% block content %}<h1>{{ product.title }}</h1>{% for i in range(1000) %}{{ slot("extensions") }}{% endfor %}{% endblock %}"#;
    palisade_commerce::themes::save(&app.db, &a_scope, "product.html", template).await.unwrap();
    assert_eq!(page(&app, &path).await.matches("Free gift wrap").count(), 1);

    // The publisher's key is rotated: the release's signature no longer verifies, and the cached page goes too.
    Publisher { handle: p.handle, keys: minisign::KeyPair::generate_unencrypted_keypair().unwrap() }
        .register(&app)
        .await;
    assert!(!page(&app, &path).await.contains("Free gift wrap"), "not run under a retired key");
    p.register(&app).await;
    assert!(page(&app, &path).await.contains("Free gift wrap"), "back with its key");

    extensions::uninstall(&app.db, &a_scope, "com.example.giftwrap").await.unwrap();
    assert!(!page(&app, &path).await.contains("Free gift wrap"), "gone with the extension");
}

#[tokio::test]
async fn a_plugin_that_fails_its_checks_on_the_page_adds_nothing_and_the_page_renders() {
    let app = TestApp::start().await;
    let p = Publisher::new("example-labs");
    p.register(&app).await;
    publish_plugin(&app, &p, "com.example.spin", None).await;
    let (a, scope, cookie) = owner_of(&app, "alpha").await;
    // The self-test refuses it at install (it never answers within its fuel).
    let form = [("extension", "com.example.spin"), ("version", "1.0.0"), ("policy", "manual")];
    let res = post(&app, &format!("/admin/stores/{}/security/extensions/install", a.id), &cookie, &form).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Were it installed anyway (a row written around the checks), the page still renders without it.
    sqlx::query(
        "INSERT INTO store_extensions (store_id, extension_id, version, policy, delay_days, installed_at, updated_at, \
         installed_by) VALUES ($1, 'com.example.spin', '1.0.0', 'manual', 0, 0, 0, 'test')",
    )
    .bind(a.id.to_string())
    .execute(app.db.pool())
    .await
    .unwrap();
    let product = crate::support::listing("teapot").stock(3).create(&app, &scope).await;
    let html = page(&app, &format!("/s/{}/p/{}", a.slug, product.slug)).await;
    assert!(!html.contains("extension-block"));
}

#[tokio::test]
async fn an_installed_plugin_can_refuse_a_checkout_before_anything_is_charged() {
    let app = TestApp::start().await;
    let p = Publisher::new("example-labs");
    p.register(&app).await;
    let verdict = r#"{"ok":false,"message":"Orders of this tea are paused until Monday."}"#;
    publish_hook(&app, &p, "com.example.pause", "checkout_validate", Some(verdict)).await;
    let (a, scope, _) = owner_of(&app, "alpha").await;
    let product = crate::support::listing("teapot").stock(5).create(&app, &scope).await;
    let variant = product.variants[0].id;
    let body = crate::support::order_request(variant).json();
    let first = crate::support::place_order(&app, "alpha", "pause-0", &body, None).await;
    assert_eq!(first.status(), StatusCode::CREATED, "an order placed before the extension came");
    extensions::install(&app.db, &scope, "com.example.pause", "1.0.0", Policy::Manual, 0).await.unwrap();
    let retry = crate::support::place_order(&app, "alpha", "pause-0", &body, None).await;
    assert_eq!(retry.status(), StatusCode::CREATED, "its retry gets the paid order back, not a refusal");
    let orders = || async {
        sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM orders WHERE store_id = $1")
            .bind(a.id.to_string())
            .fetch_one(app.db.pool())
            .await
            .unwrap()
            .0
    };

    // The JSON API: 422 with a stable code and the extension's words.
    let res = crate::support::place_order(&app, "alpha", "pause-1", &body, None).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = res.text().await.unwrap();
    assert!(text.contains("checkout_refused_by_extension") && text.contains("paused until Monday"), "{text}");
    // The checkout page: the form again, saying why.
    let added = crate::support::add_to_cart(&app, None, variant, "1").await;
    let cart = crate::support::cart_cookie(&added).unwrap();
    let res = app
        .client
        .post(app.url("/checkout/alpha"))
        .header("cookie", &cart)
        .csrf(&app, &cart)
        .form(&crate::support::guest_payment("pause-2", "4242424242424242"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("paused until Monday"));
    assert_eq!(orders().await, 1, "nothing more placed or charged");

    extensions::uninstall(&app.db, &scope, "com.example.pause").await.unwrap();
    let res = crate::support::place_order(&app, "alpha", "pause-3", &body, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(orders().await, 2);
}

#[tokio::test]
async fn an_installed_plugin_offers_shipping_rates_the_order_is_priced_from_not_the_buyer() {
    let app = TestApp::start().await;
    let p = Publisher::new("example-labs");
    p.register(&app).await;
    let rates = r#"{"rates":[{"code":"express","label":"Express courier","amount_minor":1500}]}"#;
    publish_hook(&app, &p, "com.example.parcel", "shipping_rates", Some(rates)).await;
    let (a, scope, _) = owner_of(&app, "alpha").await;
    palisade_commerce::orders::set_flat_shipping(&app.db, &scope, 500).await.unwrap();
    let product = crate::support::listing("kettle").stock(5).create(&app, &scope).await;
    let variant = product.variants[0].id;
    let body = crate::support::order_request(variant).json();
    let quote =
        |body: serde_json::Value| app.client.post(app.url("/api/v1/stores/alpha/shipping-rates")).json(&body).send();
    let ask = serde_json::json!({"address": body["address"], "lines": body["lines"]});
    let offered: serde_json::Value = quote(ask.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(offered["rates"].as_array().unwrap().len(), 1, "the flat rate alone before the install: {offered}");
    extensions::install(&app.db, &scope, "com.example.parcel", "1.0.0", Policy::Manual, 0).await.unwrap();
    let offered: serde_json::Value = quote(ask).await.unwrap().json().await.unwrap();
    let codes: Vec<&str> = offered["rates"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["standard", "com.example.parcel/express"], "{offered}");

    // The JSON API: the chosen code is priced again here; an amount or code the platform did not offer is refused.
    let mut order = body.clone();
    order["shipping_rate"] = "com.example.parcel/express".into();
    let res = crate::support::place_order(&app, "alpha", "ship-1", &order, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let placed: serde_json::Value = res.json().await.unwrap();
    assert_eq!(placed["order"]["shipping"]["minor"], 1500, "{placed}");
    order["shipping_rate"] = "com.example.parcel/free".into();
    let res = crate::support::place_order(&app, "alpha", "ship-2", &order, None).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("shipping_rate_unavailable"));
    let flat = crate::support::place_order(&app, "alpha", "ship-3", &body, None).await;
    let flat: serde_json::Value = flat.json().await.unwrap();
    assert_eq!(flat["order"]["shipping"]["minor"], 500, "no choice: the store's own rate");
    order["shipping_rate"] = "com.example.parcel/express".into();
    order["expected_shipping_minor"] = 1400.into();
    let changed = crate::support::place_order(&app, "alpha", "ship-5", &order, None).await;
    assert_eq!(changed.status(), StatusCode::CONFLICT, "quoted 14.00, costs 15.00");
    // An unset (0) flat rate is not offered as free shipping once an extension prices it.
    palisade_commerce::orders::set_flat_shipping(&app.db, &scope, 0).await.unwrap();
    let unset = crate::support::place_order(&app, "alpha", "ship-6", &body, None).await;
    assert_eq!(unset.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unset.text().await.unwrap().contains("shipping_rate_required"));
    palisade_commerce::orders::set_flat_shipping(&app.db, &scope, 500).await.unwrap();

    // The checkout page: the buyer sees the options and chooses before paying; the total follows the choice.
    let added = crate::support::add_to_cart(&app, None, variant, "1").await;
    let cart = crate::support::cart_cookie(&added).unwrap();
    let pay = |form: Vec<(&'static str, &'static str)>| {
        app.client.post(app.url("/checkout/alpha")).header("cookie", &cart).csrf(&app, &cart).form(&form).send()
    };
    let first = pay(crate::support::guest_payment("ship-4", "4242424242424242")).await.unwrap();
    assert_eq!(first.status(), StatusCode::UNPROCESSABLE_ENTITY, "asked to choose first");
    let page = first.text().await.unwrap();
    assert!(page.contains("Express courier") && page.contains("Choose how your order is shipped"), "{page}");
    assert!(page.contains("express@1500\"") && page.contains("(total SGD 25.00)"), "{page}");
    assert!(page.contains("<button type=\"submit\">Pay</button>"), "no total on the button before a choice");
    // A price other than the one offered now (a stale page, an edited form) is asked again, nothing charged.
    let mut form = crate::support::guest_payment("ship-4", "4242424242424242");
    form.push(("shipping_rate", "com.example.parcel/express@100"));
    let stale = pay(form).await.unwrap();
    assert_eq!(stale.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(stale.text().await.unwrap().contains("price of that shipping option has changed"));
    let mut form = crate::support::guest_payment("ship-4", "4242424242424242");
    form.push(("shipping_rate", "com.example.parcel/express@1500"));
    let paid = pay(form).await.unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    let (shipping, note): (i64, String) = sqlx::query_as(
        "SELECT o.shipping_minor, e.note FROM orders o JOIN order_events e ON e.order_id = o.id AND e.store_id = o.store_id \
         WHERE o.store_id = $1 AND e.to_status = 'placed' ORDER BY o.created_at DESC LIMIT 1",
    )
    .bind(a.id.to_string())
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(shipping, 1500);
    assert!(note.contains("Express courier (Gift wrap)"), "{note}");
}

//! The console's Updates page: running version, latest known release and core advisories from an offline feed.

use std::path::Path;

use palisade_store::tenancy::AccountKind;
use palisade_web::WebConfig;

use crate::support::{Person, TestApp, login, owner_of};

/// A core advisory (`Palisade`/`palisade`) affecting `introduced` up to `fixed`, rated by a CVSS vector.
fn core_advisory(id: &str, introduced: &str, fixed: &str, summary: &str) -> serde_json::Value {
    serde_json::json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": "2026-11-01T00:00:00Z",
        "summary": summary,
        "aliases": [format!("CVE-2026-{}", &id[id.len() - 4..])],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [{
            "package": {"ecosystem": "Palisade", "name": "palisade"},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": introduced}, {"fixed": fixed}]}]
        }]
    })
}

fn write(dir: &Path, name: &str, value: &serde_json::Value) {
    std::fs::write(dir.join(name), serde_json::to_vec(value).unwrap()).unwrap();
}

async fn app_with_feed(dir: Option<&Path>, running: &str) -> TestApp {
    let config = WebConfig {
        advisories_dir: dir.map(Path::to_path_buf),
        core_version: running.to_owned(),
        ..WebConfig::default()
    };
    TestApp::start_with(config, |r, _| r).await
}

async fn page(app: &TestApp) -> String {
    let res = app.client.get(app.url("/console/updates")).header("cookie", app.console_cookie().await).send().await;
    let res = res.unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

#[tokio::test]
async fn affecting_advisories_are_shown_with_severity_and_fix_and_bad_files_are_listed() {
    let feed = tempfile::tempdir().unwrap();
    write(
        feed.path(),
        "PAL-2026-0001.json",
        &core_advisory("PAL-2026-0001", "1.0.0", "1.2.1", "Session <b>fixation</b>"),
    );
    write(feed.path(), "PAL-2026-0002.json", &core_advisory("PAL-2026-0002", "0.1.0", "1.1.0", "Old and fixed"));
    // An extension's advisory at the same versions is not a core advisory.
    let mut ext = core_advisory("PAL-2026-0003", "1.0.0", "9.0.0", "Extension only");
    ext["affected"][0]["package"] = serde_json::json!({"ecosystem": "Palisade-Extension", "name": "palisade"});
    write(feed.path(), "PAL-2026-0003.json", &ext);
    std::fs::write(feed.path().join("broken.json"), b"{ not json").unwrap();
    write(feed.path(), "no-id.json", &serde_json::json!({"modified": "2026-11-01T00:00:00Z"}));

    let app = app_with_feed(Some(feed.path()), "1.2.0").await;
    let html = page(&app).await;
    assert!(html.contains("Palisade 1.2.0"), "{html}");
    assert!(html.contains("PAL-2026-0001") && html.contains("CVE-2026-0001"), "{html}");
    assert!(html.contains("severity-critical") && html.contains("1.2.1"), "severity and fixed version: {html}");
    assert!(!html.contains("PAL-2026-0002"), "fixed before the running version: not shown");
    assert!(!html.contains("PAL-2026-0003"), "an extension's advisory is not a core one");
    assert!(html.contains("Session &lt;b&gt;fixation&lt;") && !html.contains("<b>fixation"), "escaped: {html}");
    assert!(html.contains("Palisade 1.2.1") && html.contains("A newer release is known"), "latest = highest fix");
    assert!(html.contains("broken.json") && html.contains("no-id.json"), "bad files are listed: {html}");

    // The fixed version is not affected; releases.json can name a newer release.
    write(feed.path(), "releases.json", &serde_json::json!({"latest": "1.3.0"}));
    let fixed = app_with_feed(Some(feed.path()), "1.2.1").await;
    let html = page(&fixed).await;
    assert!(!html.contains("PAL-2026-0001"), "{html}");
    assert!(html.contains("No core advisory affects Palisade 1.2.1"), "{html}");
    assert!(html.contains("Palisade 1.3.0"), "releases.json's latest: {html}");
    assert!(!html.contains("releases.json"), "releases.json is not reported as a bad OSV file: {html}");

    std::fs::write(feed.path().join("releases.json"), b"[\"1.3.0\"]").unwrap();
    let html = page(&fixed).await;
    assert!(html.contains("releases.json") && html.contains("expected {&quot;latest&quot;"), "{html}");
    assert!(!html.contains("Palisade 1.3.0"), "a malformed releases.json names no release: {html}");
    write(feed.path(), "releases.json", &serde_json::json!({"latest": "v1.3.0"}));
    let html = page(&fixed).await;
    assert!(html.contains("releases.json") && !html.contains("Palisade 1.3.0"), "{html}");
}

#[tokio::test]
async fn without_a_feed_the_page_says_so_and_a_vanished_directory_is_reported() {
    let app = app_with_feed(None, "1.2.0").await;
    let html = page(&app).await;
    assert!(html.contains("No advisories directory configured") && html.contains("Palisade 1.2.0"), "{html}");
    let home = app.client.get(app.url("/console")).header("cookie", app.console_cookie().await).send().await;
    assert!(home.unwrap().text().await.unwrap().contains("href=\"/console/updates\""));

    let gone = tempfile::tempdir().unwrap();
    let path = gone.path().join("feed");
    let app = app_with_feed(Some(&path), "1.2.0").await;
    let html = page(&app).await;
    assert!(html.contains("cannot read"), "{html}");
}

#[tokio::test]
async fn merchants_and_buyers_cannot_see_the_updates_page() {
    let feed = tempfile::tempdir().unwrap();
    write(feed.path(), "PAL-2026-0001.json", &core_advisory("PAL-2026-0001", "1.0.0", "1.2.1", "Secret"));
    let app = app_with_feed(Some(feed.path()), "1.2.0").await;
    let (_store, _scope, merchant) = owner_of(&app, "alpha").await;
    Person::new("pat@shop.example", AccountKind::Buyer).create(&app).await;
    let buyer = login(&app, "pat@shop.example").await;
    for cookie in [merchant, buyer, String::new()] {
        let res = app.client.get(app.url("/console/updates")).header("cookie", &cookie).send().await.unwrap();
        let status = res.status().as_u16();
        let body = res.text().await.unwrap();
        assert!(matches!(status, 303 | 403 | 404), "{cookie}: {status}");
        assert!(!body.contains("PAL-2026-0001"), "{body}");
    }
    let res = app.client.get(app.url("/console/updates")).bearer_auth("pal_op_wrong").send().await.unwrap();
    assert_ne!(res.status(), 200);
}

//! Store scans in the Security Center: a scan through the real router stores a report whose score is the engine's
//! for the live headers; a rescan marks what it no longer sees as fixed; acceptance is bounded to 90 days; another
//! store's staff cannot read a report; the crawler stays on the store's own pages; SARIF is SARIF 2.1.0; the
//! scan controls follow.

use std::sync::Arc;

use palisade_core::matrix::ControlStatus;
use palisade_scan::{Fetched, RedirectProbe};
use palisade_store::matrix::{NodeFacts, Registry};
use palisade_store::scope::StaffScope;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Csrf as _, TestApp, owner_of};

/// The public origin the scanner uses (the test config's `public_url`).
fn public(app: &TestApp) -> String {
    let _ = app;
    palisade_web::WebConfig::default().public_url
}

/// Asks for a scan; when it was started (303), waits for it to end, as the tab's reload would.
async fn run_scan(app: &TestApp, store: &str, cookie: &str) -> reqwest::Response {
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{store}/security/scans")))
        .csrf(app, cookie)
        .send()
        .await
        .unwrap();
    if res.status() == StatusCode::SEE_OTHER {
        wait_for_scans(app, store).await;
    }
    res
}

/// Waits until no scan of the store is running (scans run in the background, after the request has answered).
async fn wait_for_scans(app: &TestApp, store: &str) {
    for _ in 0..600 {
        let (running,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM store_scans WHERE store_id = $1 AND finished_at IS NULL")
                .bind(store)
                .fetch_one(app.db.pool())
                .await
                .unwrap();
        if running == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the scan of {store} did not finish in 60 s");
}

async fn get(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    app.client.get(app.url(path)).header("cookie", cookie).send().await.unwrap()
}

/// The id of the newest scan of the store, read from the database.
async fn last_scan(app: &TestApp, store: &str) -> String {
    let (id,): (String,) =
        sqlx::query_as("SELECT id FROM store_scans WHERE store_id = $1 ORDER BY started_at DESC, id DESC LIMIT 1")
            .bind(store)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    id
}

/// The Scans tab as the member sees it (it must render).
async fn tab(app: &TestApp, store: &str, cookie: &str) -> String {
    let res = get(app, &format!("/admin/stores/{store}/security/scans"), cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Templates escape `/` in text (`&#x2f;`), as browsers read it.
    res.text().await.unwrap().replace("&#x2f;", "/")
}

async fn report_json(app: &TestApp, store: &str, cookie: &str) -> Value {
    let scan = last_scan(app, store).await;
    let res = get(app, &format!("/admin/stores/{store}/security/scans/{scan}/report.json"), cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    serde_json::from_str(&res.text().await.unwrap()).unwrap()
}

/// A theme template version written as an older release could have stored it (the sandbox refuses `|safe` on
/// save today; a scan must still see it).
async fn put_template(app: &TestApp, store: &str, name: &str, version: i64, source: &str) {
    sqlx::query(
        "INSERT INTO theme_templates (id, store_id, name, version, source, good, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, 1, 'system:test', $6)",
    )
    .bind(palisade_core::JobId::new().to_string())
    .bind(store)
    .bind(name)
    .bind(version)
    .bind(source)
    .bind(app.db.now().0)
    .execute(app.db.pool())
    .await
    .unwrap();
}

async fn finding_state(app: &TestApp, store: &str, rule: &str) -> Vec<String> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT state FROM scan_findings WHERE store_id = $1 AND rule_id = $2 ORDER BY fingerprint")
            .bind(store)
            .bind(rule)
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    rows.into_iter().map(|(s,)| s).collect()
}

#[tokio::test]
async fn a_scan_stores_the_engines_score_for_the_live_headers_and_every_download_is_an_attachment() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let store = s.id.to_string();
    let res = run_scan(&app, &store, &cookie).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());

    // The engine's score for the storefront's headers as a visitor gets them over the socket.
    let live = app.client.get(app.url("/s/alpha")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let headers = live
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let page =
        Fetched { url: format!("{}/s/alpha", public(&app)), status: 200, headers, body: live.text().await.unwrap() };
    let expected = palisade_scan::observatory::score(&page, &RedirectProbe::NotProbed);

    let report = report_json(&app, &store, &cookie).await;
    assert_eq!(report["score"]["score"], expected.score, "{:#}", report["score"]);
    assert_eq!(report["score"]["grade"], expected.grade.as_str());
    // Configuration checks of a fresh store: MFA not enforced, no export yet; each links to its setting.
    let rules: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule_id"].as_str().unwrap(), f["fix_link"].as_str().unwrap()))
        .collect();
    let base = format!("/admin/stores/{store}");
    assert!(rules.contains(&("config/staff-mfa-enforced", &format!("{base}/security/staff#mfa-policy"))), "{rules:?}");
    assert!(rules.contains(&("config/no-recent-export", &format!("{base}/backups#schedule"))), "{rules:?}");
    let (score, grade): (Option<i64>, Option<String>) =
        sqlx::query_as("SELECT score, grade FROM store_scans WHERE store_id = $1")
            .bind(&store)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(score, Some(i64::from(expected.score)));
    assert_eq!(grade.as_deref(), Some(expected.grade.as_str()));

    // The tab shows the report; the configuration checks link to the setting that fixes them.
    let html = tab(&app, &store, &cookie).await;
    assert!(html.contains(&format!("{} points, grade", expected.score)), "{html}");
    assert!(html.contains(&format!("/admin/stores/{store}/security/staff#mfa-policy")));

    let scan = last_scan(&app, &store).await;
    let base = format!("/admin/stores/{store}/security/scans/{scan}");
    let sarif = get(&app, &format!("{base}/report.sarif"), &cookie).await;
    assert_eq!(sarif.status(), 200);
    assert!(sarif.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    let sarif: Value = serde_json::from_str(&sarif.text().await.unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["runs"][0]["results"].as_array().is_some_and(|r| !r.is_empty()));

    let html = get(&app, &format!("{base}/report.html"), &cookie).await;
    assert_eq!(html.status(), 200);
    assert!(html.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    let csp = html.headers()["content-security-policy"].to_str().unwrap();
    assert_eq!(csp, palisade_web::routes::admin::scans::REPORT_CSP);
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"));
    assert!(html.text().await.unwrap().contains("Security scan of"));
    assert_eq!(get(&app, &format!("{base}/report.exe"), &cookie).await.status(), 404);
}

#[tokio::test]
async fn a_safe_filter_in_a_theme_is_a_finding_and_becomes_fixed_when_a_rescan_no_longer_sees_it() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let store = s.id.to_string();
    put_template(&app, &store, "product.html", 1, "<div>{{ product.description|safe }}</div>").await;
    assert_eq!(run_scan(&app, &store, &cookie).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(finding_state(&app, &store, "template/safe-filter").await, ["open"]);
    let report = report_json(&app, &store, &cookie).await;
    let f = report["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "template/safe-filter").unwrap();
    assert_eq!(f["location"]["url"], "theme/product.html");
    assert!(tab(&app, &store, &cookie).await.contains("template/safe-filter"), "listed as open");

    put_template(&app, &store, "product.html", 2, "<div>{{ product.description }}</div>").await;
    assert_eq!(run_scan(&app, &store, &cookie).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(finding_state(&app, &store, "template/safe-filter").await, ["fixed"], "not seen again: fixed");
    let html = tab(&app, &store, &cookie).await;
    assert!(!html.contains("template/safe-filter"), "a fixed finding is not listed as open");
}

#[tokio::test]
async fn acceptance_is_bounded_to_90_days_and_survives_a_rescan() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let store = s.id.to_string();
    put_template(&app, &store, "product.html", 1, "<div>{{ product.description|safe }}</div>").await;
    assert_eq!(run_scan(&app, &store, &cookie).await.status(), StatusCode::SEE_OTHER);
    let (fp,): (String,) = sqlx::query_as(
        "SELECT fingerprint FROM scan_findings WHERE store_id = $1 AND rule_id = 'template/safe-filter'",
    )
    .bind(&store)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    let accept = |days: &'static str, reason: &'static str| {
        app.client
            .post(app.url(&format!("/admin/stores/{store}/security/scans/findings/{fp}/accept")))
            .csrf(&app, &cookie)
            .form(&[("reason", reason), ("days", days)])
            .send()
    };
    for bad in ["91", "365", "0", "-3", "ninety"] {
        let res = accept(bad, "vendor template, reviewed").await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad} days");
        assert!(res.text().await.unwrap().contains("90 days"));
    }
    assert_eq!(accept("30", "   ").await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY, "a reason is needed");
    assert_eq!(finding_state(&app, &store, "template/safe-filter").await, ["open"], "nothing was half-written");
    assert_eq!(accept("90", "description is sanitised upstream").await.unwrap().status(), StatusCode::SEE_OTHER);
    assert_eq!(finding_state(&app, &store, "template/safe-filter").await, ["accepted"]);
    let (actions,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE store_id = $1 AND action = 'scan.finding_accepted'")
            .bind(&store)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(actions, 1, "audited");
    assert_eq!(run_scan(&app, &store, &cookie).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(finding_state(&app, &store, "template/safe-filter").await, ["accepted"], "still accepted");
}

#[tokio::test]
async fn another_stores_staff_cannot_see_download_or_accept_a_stores_scans() {
    let app = TestApp::start().await;
    let (a, _, cookie_a) = owner_of(&app, "alpha").await;
    let (b, _, cookie_b) = owner_of(&app, "beta").await;
    let (sa, sb) = (a.id.to_string(), b.id.to_string());
    put_template(&app, &sa, "product.html", 1, "<div>{{ product.description|safe }}</div>").await;
    assert_eq!(run_scan(&app, &sa, &cookie_a).await.status(), StatusCode::SEE_OTHER);
    let scan = last_scan(&app, &sa).await;
    for file in ["report.json", "report.html", "report.sarif"] {
        // Through B's own store, with A's scan id: not found (every query carries the store).
        let res = get(&app, &format!("/admin/stores/{sb}/security/scans/{scan}/{file}"), &cookie_b).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{file}");
        // Through A's store: B is not a member.
        let res = get(&app, &format!("/admin/stores/{sa}/security/scans/{scan}/{file}"), &cookie_b).await;
        assert!(matches!(res.status(), StatusCode::NOT_FOUND | StatusCode::FORBIDDEN), "{file}: {}", res.status());
        assert!(!res.text().await.unwrap().contains("safe-filter"));
    }
    let foreign = get(&app, &format!("/admin/stores/{sa}/security/scans"), &cookie_b).await;
    assert!(matches!(foreign.status(), StatusCode::NOT_FOUND | StatusCode::FORBIDDEN));
    let (fp,): (String,) = sqlx::query_as("SELECT fingerprint FROM scan_findings WHERE store_id = $1 LIMIT 1")
        .bind(&sa)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{sb}/security/scans/findings/{fp}/accept")))
        .csrf(&app, &cookie_b)
        .form(&[("reason", "mine now"), ("days", "30")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "A's finding is not B's");
    let (states,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM scan_findings WHERE store_id = $1 AND state = 'accepted'")
            .bind(&sa)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(states, 0);
    // B's scan is its own: A's findings do not show in B's tab.
    assert_eq!(run_scan(&app, &sb, &cookie_b).await.status(), StatusCode::SEE_OTHER);
    let html = tab(&app, &sb, &cookie_b).await;
    assert!(!html.contains("template/safe-filter"));
}

#[tokio::test]
async fn the_crawler_never_leaves_the_stores_own_pages() {
    let app = TestApp::start().await;
    let (a, scope, cookie) = owner_of(&app, "alpha").await;
    let _ = owner_of(&app, "beta").await;
    let _ = owner_of(&app, "alphabet").await;
    let store = a.id.to_string();
    let links = r#"<p><a href="/s/beta">beta</a> <a href="/s/alphabet">alphabet</a> <a href="/s/alpha/../beta">up</a>
<a href="/admin">admin</a> <a href="https://evil.example/s/alpha">elsewhere</a> <a href="/s/alpha?page=2">more</a></p>"#;
    palisade_commerce::themes::save(&app.db, &scope, "store.html", links).await.unwrap();
    assert_eq!(run_scan(&app, &store, &cookie).await.status(), StatusCode::SEE_OTHER);
    let report = report_json(&app, &store, &cookie).await;
    let origin = public(&app);
    let crawled: Vec<&str> = report["crawled"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(crawled.len() >= 2, "the store's own link was followed: {crawled:?}");
    for url in &crawled {
        let path = url.strip_prefix(&origin).unwrap_or_else(|| panic!("left the origin: {url}"));
        assert!(path == "/s/alpha" || path.starts_with("/s/alpha/") || path.starts_with("/s/alpha?"), "{url}");
    }
    assert!(crawled.contains(&format!("{origin}/s/alpha?page=2").as_str()), "{crawled:?}");
    // Other stores' pages, another origin: not even candidates (they would spend the crawl's budget).
    let refused = report["refused"].as_array().unwrap();
    assert!(refused.is_empty(), "{refused:?}");
}

#[tokio::test]
async fn links_to_other_stores_cannot_starve_the_crawl_of_the_stores_own_pages() {
    let app = TestApp::start().await;
    let (a, scope, cookie) = owner_of(&app, "alpha").await;
    let _ = owner_of(&app, "beta").await;
    let store = a.id.to_string();
    // 60 links to another store come first on the page, then the store's own second page.
    let mut links: String = (0..60).map(|i| format!("<a href=\"/s/beta?page={i}\">b</a>")).collect();
    links.push_str(r#"<a href="/s/alpha?page=2">more</a>"#);
    palisade_commerce::themes::save(&app.db, &scope, "store.html", &links).await.unwrap();
    assert_eq!(run_scan(&app, &store, &cookie).await.status(), StatusCode::SEE_OTHER);
    let report = report_json(&app, &store, &cookie).await;
    let crawled: Vec<&str> = report["crawled"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(crawled.contains(&format!("{}/s/alpha?page=2", public(&app)).as_str()), "{crawled:?}");
    assert!(crawled.iter().all(|u| !u.contains("/s/beta")), "{crawled:?}");
}

/// Adds and enables a firewall rule of the store through its page, as the merchant would.
async fn enable_rule(app: &TestApp, store: &str, cookie: &str, source: &str) {
    let base = app.url(&format!("/admin/stores/{store}/security/rules"));
    let added = app.client.post(&base).csrf(app, cookie).form(&[("source", source)]).send().await.unwrap();
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let (id,): (String,) =
        sqlx::query_as("SELECT id FROM store_rules WHERE store_id = $1 ORDER BY position DESC LIMIT 1")
            .bind(store)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let enabled = app.client.post(format!("{base}/{id}/enable")).csrf(app, cookie).send().await.unwrap();
    assert_eq!(enabled.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_store_rule_against_the_scanner_fails_the_scan_and_marks_nothing_fixed() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let store = s.id.to_string();
    put_template(&app, &store, "product.html", 1, "<div>{{ product.description|safe }}</div>").await;
    assert_eq!(run_scan(&app, &store, &cookie).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(finding_state(&app, &store, "template/safe-filter").await, ["open"]);
    let open_before = finding_state(&app, &store, "config/staff-mfa-enforced").await;
    assert_eq!(open_before, ["open"]);

    // The merchant blocks the scanner's user agent: the next scan cannot read the store, so it fails with the
    // reason shown, and no finding is marked fixed by a scan that saw nothing.
    enable_rule(&app, &store, &cookie, "block if header \"user-agent\" contains \"storescan\"").await;
    assert_eq!(run_scan(&app, &store, &cookie).await.status(), StatusCode::SEE_OTHER);
    let (report,): (Option<String>,) =
        sqlx::query_as("SELECT report FROM store_scans WHERE store_id = $1 ORDER BY started_at DESC, id DESC LIMIT 1")
            .bind(&store)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert!(report.is_none(), "a failed scan keeps no report");
    assert_eq!(finding_state(&app, &store, "template/safe-filter").await, ["open"]);
    assert_eq!(finding_state(&app, &store, "config/staff-mfa-enforced").await, ["open"]);
    let html = tab(&app, &store, &cookie).await;
    assert!(html.contains("The last scan did not finish") && html.contains("answered 403"), "{html}");
    let (failed,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE store_id = $1 AND action = 'scan.failed'")
            .bind(&store)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(failed, 1, "the failure is in the store's audit log");
}

#[tokio::test]
async fn a_page_the_scanner_could_not_read_keeps_its_findings_open() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let store = s.id.to_string();
    // A link carrying an off-site redirect target: a finding on every page that shows it.
    let page = r#"<a href="/go?next=https://evil.example/">deal</a> <a href="/s/alpha?page=2">more</a>"#;
    palisade_commerce::themes::save(&app.db, &scope, "store.html", page).await.unwrap();
    assert_eq!(run_scan(&app, &store, &cookie).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(finding_state(&app, &store, "page/open-redirect-param").await, ["open", "open"], "both pages");

    // The link is gone from both pages, but the second page is now refused to the scanner by a store rule:
    // the start page's finding is fixed (read again), the second page's stays open (not read).
    palisade_commerce::themes::save(&app.db, &scope, "store.html", r#"<a href="/s/alpha?page=2">more</a>"#)
        .await
        .unwrap();
    enable_rule(&app, &store, &cookie, "block if query contains \"page=2\"").await;
    assert_eq!(run_scan(&app, &store, &cookie).await.status(), StatusCode::SEE_OTHER);
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT location, state FROM scan_findings WHERE store_id = $1 AND rule_id = 'page/open-redirect-param'",
    )
    .bind(&store)
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    for (location, state) in rows {
        let expected = if location.contains("page=2") { "open" } else { "fixed" };
        assert_eq!(state, expected, "{location}");
    }
}

#[tokio::test]
async fn the_tab_shows_a_running_scan_and_offers_no_second_one() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let store = s.id.to_string();
    sqlx::query(
        "INSERT INTO store_scans (id, store_id, started_at, trigger_kind, started_by) \
         VALUES ($1, $2, $3, 'manual', 'system:test')",
    )
    .bind(palisade_core::ScanId::new().to_string())
    .bind(&store)
    .bind(app.db.now().0 - 1_000)
    .execute(app.db.pool())
    .await
    .unwrap();
    let html = tab(&app, &store, &cookie).await;
    assert!(html.contains("A scan is running"), "{html}");
    assert!(!html.contains("Run a scan now"));
}

#[tokio::test]
async fn one_scan_at_a_time_and_six_an_hour() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let store = s.id.to_string();
    let insert = |finished: Option<i64>| {
        sqlx::query(
            "INSERT INTO store_scans (id, store_id, started_at, finished_at, trigger_kind, started_by) \
             VALUES ($1, $2, $3, $4, 'manual', 'system:test')",
        )
        .bind(palisade_core::ScanId::new().to_string())
        .bind(store.clone())
        .bind(app.db.now().0 - 60_000)
        .bind(finished)
        .execute(app.db.pool())
    };
    insert(None).await.unwrap();
    let res = run_scan(&app, &store, &cookie).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.text().await.unwrap().contains("already running"));
    sqlx::query("UPDATE store_scans SET finished_at = started_at WHERE store_id = $1")
        .bind(&store)
        .execute(app.db.pool())
        .await
        .unwrap();
    for _ in 0..5 {
        insert(Some(app.db.now().0)).await.unwrap();
    }
    let res = run_scan(&app, &store, &cookie).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.text().await.unwrap().contains("6 scans an hour"));
}

#[tokio::test]
async fn the_scan_controls_follow_scans_and_triage() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let store = s.id.to_string();
    let dir = tempfile::tempdir().unwrap();
    let facts = Arc::new(NodeFacts { data_dir: dir.path().to_path_buf(), master_key_path: dir.path().join("k") });
    let mut reg = Registry::default();
    palisade_store::controls::register(&mut reg).unwrap();
    let scope = StaffScope::system(s.id, "test");
    let status = |id: &'static str| {
        let (reg, facts, scope) = (&reg, &facts, &scope);
        let db = app.db.db.clone();
        async move {
            let report = reg.evaluate_store(&db, facts, scope).await.unwrap();
            let all = report.areas.iter().flat_map(|a| a.merchant.iter().chain(a.platform.iter()));
            all.clone().find(|r| r.control.id == id).map(|r| r.status.clone()).unwrap()
        }
    };
    assert!(
        matches!(status("store.scanned-recently").await, ControlStatus::Unmet { reason, .. } if reason.contains("never"))
    );
    assert!(!status("platform.stores-scanned").await.is_met());
    assert_eq!(run_scan(&app, &store, &cookie).await.status(), StatusCode::SEE_OTHER);
    // A fresh store does not enforce MFA: a high configuration finding keeps the control unmet.
    assert!(
        matches!(status("store.scanned-recently").await, ControlStatus::Unmet { reason, .. } if reason.contains("high"))
    );
    assert!(status("platform.stores-scanned").await.is_met(), "the only active store was scanned");
    assert!(status("store.findings-triaged").await.is_met(), "nothing is 14 days old yet");
    // Accept every high/critical finding: the control is met.
    let grave: Vec<(String,)> = sqlx::query_as(
        "SELECT fingerprint FROM scan_findings WHERE store_id = $1 AND severity IN ('high', 'critical')",
    )
    .bind(&store)
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert!(!grave.is_empty());
    for (fp,) in grave {
        let res = app
            .client
            .post(app.url(&format!("/admin/stores/{store}/security/scans/findings/{fp}/accept")))
            .csrf(&app, &cookie)
            .form(&[("reason", "planned for next sprint"), ("days", "14")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    assert!(status("store.scanned-recently").await.is_met());
    // Findings first seen 15 days ago and still open are untriaged.
    sqlx::query("UPDATE scan_findings SET first_seen = first_seen - $1 WHERE store_id = $2 AND state = 'open'")
        .bind(15 * 24 * 3600 * 1000_i64)
        .bind(&store)
        .execute(app.db.pool())
        .await
        .unwrap();
    assert!(!status("store.findings-triaged").await.is_met());
}

#[tokio::test]
async fn the_weekly_job_scans_each_active_store_once_and_the_platform_control_follows() {
    let holder = Arc::new(std::sync::OnceLock::new());
    let keep = Arc::clone(&holder);
    let app = TestApp::start_with(palisade_web::WebConfig::default(), move |r, state| {
        let _ = keep.set(state.clone());
        r
    })
    .await;
    let state = holder.get().unwrap();
    let (a, _, _) = owner_of(&app, "alpha").await;
    let (b, _, _) = owner_of(&app, "beta").await;
    // The scheduled job queues one scan job per due store (once a day at most); each job scans its store.
    assert_eq!(palisade_web::store_scan::enqueue_due_scans(state).await.unwrap(), 2);
    assert_eq!(palisade_web::store_scan::enqueue_due_scans(state).await.unwrap(), 0, "already queued today");
    let queued: Vec<(String,)> =
        sqlx::query_as("SELECT store_id FROM jobs WHERE kind = $1 AND status = 'queued' ORDER BY store_id")
            .bind(palisade_store::scans::SCAN_STORE_JOB)
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    let mut expected = [a.id.to_string(), b.id.to_string()];
    expected.sort();
    assert_eq!(queued.iter().map(|(s,)| s.clone()).collect::<Vec<_>>(), expected);
    for (store,) in &queued {
        let outcome = palisade_web::store_scan::scan_store(state, store).await.unwrap();
        assert!(matches!(outcome, palisade_web::store_scan::Outcome::Done(_)), "{outcome:?}");
    }
    for s in [a.id, b.id] {
        let (n, trigger): (i64, String) = sqlx::query_as(
            "SELECT COUNT(*), MIN(trigger_kind) FROM store_scans WHERE store_id = $1 AND report IS NOT NULL",
        )
        .bind(s.to_string())
        .fetch_one(app.db.pool())
        .await
        .unwrap();
        assert_eq!((n, trigger.as_str()), (1, "scheduled"));
    }
    sqlx::query("DELETE FROM jobs").execute(app.db.pool()).await.unwrap();
    assert_eq!(palisade_web::store_scan::enqueue_due_scans(state).await.unwrap(), 0, "scanned this week");
    assert!(palisade_web::store_scan::scan_store(state, "not-a-store").await.is_err());
    let report = state.registry.evaluate_platform(&app.db, &state.facts).await.unwrap();
    let control =
        report.areas.iter().flat_map(|a| a.platform.iter()).find(|r| r.control.id == "platform.stores-scanned");
    assert!(control.unwrap().status.is_met());
}

#[tokio::test]
async fn the_console_shows_every_stores_scan_standing_to_the_operator_only() {
    let app = TestApp::start().await;
    let (a, _, cookie_a) = owner_of(&app, "alpha").await;
    let _ = owner_of(&app, "beta").await;
    let store = a.id.to_string();
    put_template(&app, &store, "product.html", 1, "<div>{{ product.description|safe }}</div>").await;
    assert_eq!(run_scan(&app, &store, &cookie_a).await.status(), StatusCode::SEE_OTHER);
    let (high,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM scan_findings WHERE store_id = $1 AND severity = 'high' AND state = 'open'",
    )
    .bind(&store)
    .fetch_one(app.db.pool())
    .await
    .unwrap();

    let res = app.client.get(app.url("/console/assessment")).header("cookie", app.console_cookie().await).send().await;
    let res = res.unwrap();
    let status = res.status();
    let html = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{html}");
    // Alpha, scanned, with its open high findings counted and drawn; beta never scanned.
    let alpha = html.split("<code>alpha</code>").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(alpha.contains(" points, grade"), "{alpha}");
    assert!(alpha.contains(&format!("{high} high")), "the bar's label counts the open high findings: {alpha}");
    let beta = html.split("<code>beta</code>").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(beta.contains("never"), "{beta}");
    assert!(html.contains("<b>1</b>never scanned"), "{html}");

    // A merchant (even of a scanned store) and a visitor do not see it.
    for cookie in [cookie_a, String::new()] {
        let res = app.client.get(app.url("/console/assessment")).header("cookie", &cookie).send().await.unwrap();
        let status = res.status().as_u16();
        assert!(matches!(status, 303 | 403 | 404), "{status}");
        assert!(!res.text().await.unwrap().contains("<code>beta</code>"));
    }
}

#[tokio::test]
async fn decoys_past_the_cap_do_not_make_a_real_finding_look_fixed() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let store = s.id.to_string();
    put_template(&app, &store, "product.html", 1, "<div>{{ product.description|safe }}</div>").await;
    assert_eq!(run_scan(&app, &store, &cookie).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(finding_state(&app, &store, "template/safe-filter").await, ["open"]);
    // A hundred decoys of the same rule in another template push the list past the cap of 25 per rule, and (the
    // fingerprints are fixed) the real finding is among those not listed.
    let decoys: String = (0..100).map(|i| format!("<p>{{{{ d{i}|safe }}}}</p>\n")).collect();
    put_template(&app, &store, "store.html", 1, &decoys).await;
    assert_eq!(run_scan(&app, &store, &cookie).await.status(), StatusCode::SEE_OTHER);
    let report = report_json(&app, &store, &cookie).await;
    let listed = report["findings"].as_array().unwrap();
    assert!(
        listed.iter().all(|f| f["location"]["url"] != "theme/product.html"),
        "the real finding must be past the cap for this test to mean anything"
    );
    let (fixed,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM scan_findings WHERE store_id = $1 AND rule_id = 'template/safe-filter' AND state = 'fixed'",
    )
    .bind(&store)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(fixed, 0, "a rule listed only in part fixes nothing");
    let (real,): (String,) =
        sqlx::query_as("SELECT state FROM scan_findings WHERE store_id = $1 AND location LIKE 'theme/product.html%'")
            .bind(&store)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(real, "open");
}

#[tokio::test]
async fn the_scan_reads_the_template_the_storefront_renders_not_a_broken_newer_one() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let store = s.id.to_string();
    // Version 1 (rendered before, with `|safe`), then a "clean" version 2 that failed when rendered: the storefront
    // falls back to version 1, so the finding is still on the pages.
    put_template(&app, &store, "product.html", 1, "<div>{{ product.description|safe }}</div>").await;
    assert_eq!(run_scan(&app, &store, &cookie).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(finding_state(&app, &store, "template/safe-filter").await, ["open"]);
    put_template(&app, &store, "product.html", 2, "<div>{{ no_such_function() }}</div>").await;
    sqlx::query(
        "UPDATE theme_templates SET good = 0, error = 'unknown function', error_at = $1 \
         WHERE store_id = $2 AND name = 'product.html' AND version = 2",
    )
    .bind(app.db.now().0)
    .bind(&store)
    .execute(app.db.pool())
    .await
    .unwrap();
    assert_eq!(run_scan(&app, &store, &cookie).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(finding_state(&app, &store, "template/safe-filter").await, ["open"], "version 1 is still served");
}

//! Issue #18 items 15, 16 and 18: the Security Center in tabs with Fix links, the merchant's own score, no platform
//! internals for merchants, saved-notices from a fixed table, and the operator's roll-up.

use palisade_store::audit::{self, NewEvent};
use palisade_store::matrix::Registry;
use palisade_store::scope::OperatorPrincipal;
use palisade_store::tenancy;
use palisade_web::routes::admin::security_tabs::fix_href;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Csrf, TestApp, owner_of, store};

const TABS: [(&str, &str); 5] = [
    ("security", "Overview"),
    ("security/staff", "Staff &amp; access"),
    ("security/firewall", "Firewall"),
    ("security/updates", "Updates"),
    ("security/awareness", "Awareness"),
];

async fn page(app: &TestApp, path: &str, cookie: &str) -> (StatusCode, String) {
    let res = app.client.get(app.url(path)).header("cookie", cookie).send().await.unwrap();
    // Templates escape `/` in values (`&#x2f;`), as browsers read it.
    (res.status(), res.text().await.unwrap().replace("&#x2f;", "/"))
}

#[tokio::test]
async fn every_tab_has_its_own_address_a_current_marker_and_a_way_back() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let base = format!("/admin/stores/{}", s.id);
    for (tab, label) in TABS.iter().copied().chain([("backups", "Backups")]) {
        let (status, html) = page(&app, &format!("{base}/{tab}"), &cookie).await;
        assert_eq!(status, StatusCode::OK, "{tab}");
        assert!(html.contains(&format!("<a href=\"{base}/{tab}\" aria-current=\"page\">{label}</a>")), "{tab}: {html}");
        let back =
            if tab == "security" { "href=\"/admin\">← All your stores" } else { "← Security Center overview" };
        assert!(html.contains(back), "{tab} has a way back");
        assert!(!html.contains("<script"), "{tab} needs no script");
    }
}

#[tokio::test]
async fn a_merchant_never_reaches_another_stores_tab() {
    let app = TestApp::start().await;
    let (_, _, cookie) = owner_of(&app, "alpha").await;
    let bravo = store(&app.db, "bravo", None).await;
    for (tab, _) in TABS.iter().copied().chain([("backups", "")]) {
        for key in [bravo.id.to_string(), "bravo".to_owned()] {
            let (status, html) = page(&app, &format!("/admin/stores/{key}/{tab}"), &cookie).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{key}/{tab}");
            assert!(!html.contains("Store bravo"), "nothing of bravo shows");
        }
    }
    let (s, _, _) = (bravo, (), ());
    let (status, _) = page(&app, &format!("/admin/stores/{}/security/nope", s.id), &cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn merchants_never_see_platform_internals() {
    // The test operator (op@platform.example) has no second factor, so the platform's column has an unmet control
    // whose reason names them; the master key's path is in another's detail.
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let console = app.console_cookie().await;
    let (_, operator_view) = page(&app, &format!("/console/stores/{}/security", s.id), &console).await;
    assert!(operator_view.contains("op@platform.example"), "the operator's own view keeps the details");
    assert!(operator_view.contains("master.key"), "the operator's own view keeps the details");
    let internals = ["op@platform.example", "master.key", "/tmp/", "palisade serve", "palisade backup", "node"];
    let base = format!("/admin/stores/{}", s.id);
    for tab in TABS.iter().map(|(t, _)| *t).chain(["backups"]) {
        let (_, html) = page(&app, &format!("{base}/{tab}"), &cookie).await;
        for secret in internals {
            assert!(!html.contains(secret), "{tab} shows `{secret}`");
        }
    }
    let (_, json) = page(&app, &format!("/api/v1/admin/stores/{}/security/controls", s.id), &cookie).await;
    for secret in internals {
        assert!(!json.contains(secret), "the JSON shows `{secret}`");
    }
}

/// Met over applicable controls of one column, as the page counts them.
fn column_score(report: &Value, column: &str) -> Option<u64> {
    let (mut met, mut applicable) = (0, 0);
    for area in report["areas"].as_array().unwrap() {
        for r in area[column].as_array().unwrap() {
            match r["status"]["state"].as_str().unwrap() {
                "not_applicable" => {}
                "met" => (met, applicable) = (met + 1, applicable + 1),
                _ => applicable += 1,
            }
        }
    }
    (applicable > 0).then(|| met * 100 / applicable)
}

#[tokio::test]
async fn the_merchants_score_counts_only_their_column_and_the_platforms_stands_beside_it() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let url = format!("/api/v1/admin/stores/{}/security/controls", s.id);
    let mut report: Value = serde_json::from_str(&page(&app, &url, &cookie).await.1).unwrap();
    if column_score(&report, "merchant") == column_score(&report, "platform") {
        // The columns happen to score alike as controls are added: flip one merchant control (the security
        // contact) so that mixing them would show.
        sqlx::query(
            "UPDATE stores SET security_contact_email = CASE WHEN security_contact_email IS NULL \
             THEN 'security@alpha.example' ELSE NULL END WHERE id = $1",
        )
        .bind(s.id.to_string())
        .execute(app.db.pool())
        .await
        .unwrap();
        report = serde_json::from_str(&page(&app, &url, &cookie).await.1).unwrap();
    }
    let mine = column_score(&report, "merchant");
    let platform = column_score(&report, "platform");
    assert_eq!(report["score"].as_u64(), mine);
    assert_eq!(report["platform_score"].as_u64(), platform);
    assert_ne!(mine, platform, "the fixture's columns score differently, so mixing them would show");
    let (_, html) = page(&app, &format!("/admin/stores/{}/security", s.id), &cookie).await;
    assert!(html.contains(&format!("<b>{}%</b>your team's controls met", mine.unwrap())));
    assert!(html.contains(&format!("<b>{}%</b>platform's controls met (not in your score)", platform.unwrap())));
}

/// The `href`s of the Fix links on a page.
fn fix_links(html: &str) -> Vec<String> {
    html.split("<a class=\"fix-link\" href=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .collect()
}

#[tokio::test]
async fn every_unmet_control_has_a_fix_link_to_the_exact_setting() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let (_, html) = page(&app, &format!("/admin/stores/{}/security", s.id), &cookie).await;
    let links = fix_links(&html);
    let base = format!("/admin/stores/{}", s.id);
    for expected in [format!("{base}/security#contact"), format!("{base}/security/staff#mfa-policy")] {
        assert!(links.contains(&expected), "{expected} in {links:?}");
    }
    for link in &links {
        let (path, anchor) = link.split_once('#').unwrap_or((link, ""));
        let (status, target) = page(&app, path, &cookie).await;
        assert_eq!(status, StatusCode::OK, "{link}");
        if !anchor.is_empty() {
            assert!(target.contains(&format!("id=\"{anchor}\"")), "{link}: the setting is on that tab");
        }
    }
    // Every control of a store's column, registered now or later, says where it is fixed.
    let mut reg = Registry::default();
    palisade_store::controls::register(&mut reg).unwrap();
    palisade_identity::controls::register(&mut reg).unwrap();
    palisade_commerce::controls::register(&mut reg).unwrap();
    palisade_web::edge::shield::register(&mut reg).unwrap();
    palisade_backup::controls::register(&mut reg).unwrap();
    for c in reg.merchant_controls() {
        assert!(fix_href(&base, c.id).is_some(), "{} has no Fix link", c.id);
    }
}

#[tokio::test]
async fn saved_messages_come_from_the_table_and_nothing_else_is_echoed() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{}/security/contact", s.id)))
        .csrf(&app, &cookie)
        .form(&[("email", "dpo@alpha.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(to, format!("/admin/stores/{}/security?saved=contact#contact", s.id));
    let (_, html) = page(&app, &to, &cookie).await;
    assert!(html.contains("<p class=\"notice ok\" role=\"status\">Security contact saved.</p>"));
    let overview = format!("/admin/stores/{}/security", s.id);
    for bad in ["%3Cscript%3Ealert(1)%3C/script%3E", "contactx", "Security%20contact%20saved.", ""] {
        let (status, html) = page(&app, &format!("{overview}?saved={bad}"), &cookie).await;
        // The firewall may refuse the script outright; either way nothing of it comes back.
        assert!(
            status == StatusCode::OK || (bad.contains("script") && status == StatusCode::FORBIDDEN),
            "{bad}: {status}"
        );
        assert!(!html.contains("class=\"notice"), "saved={bad} shows nothing");
        assert!(!html.contains("<script>alert"), "saved={bad} is never echoed");
    }
    // A refused save says why (and shows no "saved").
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{}/security/contact", s.id)))
        .csrf(&app, &cookie)
        .form(&[("email", "not an address")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!res.text().await.unwrap().contains("class=\"notice"));
}

#[tokio::test]
async fn the_score_history_is_a_chart_with_a_text_alternative_and_changes_name_people() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let overview = format!("/admin/stores/{}/security", s.id);
    let (_, first) = page(&app, &overview, &cookie).await;
    assert!(first.contains("role=\"img\""));
    let res = app
        .client
        .post(app.url(&format!("{overview}/contact")))
        .csrf(&app, &cookie)
        .form(&[("email", "dpo@alpha.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // An operator acting on the store is named by role only.
    let op =
        tenancy::find_account_by_email(&app.db, &palisade_core::text::Email::parse("op@platform.example").unwrap())
            .await
            .unwrap()
            .unwrap();
    let principal = OperatorPrincipal::from_verified_operator(&op).unwrap();
    audit::record_store_now(&app.db, &principal.store_scope(s.id), NewEvent::new("support.looked", "store"))
        .await
        .unwrap();
    let (_, html) = page(&app, &overview, &cookie).await;
    let chart = &html[html.find("<svg class=\"chart\" role=\"img\" aria-labelledby=\"history-title").unwrap()..];
    assert!(chart.contains("<desc id=\"history-desc\">From "), "the chart describes itself");
    assert!(chart.contains("<polyline points=\""), "{chart}");
    let table = &html[html.find("The score history as a table").unwrap()..];
    let rows = table[..table.find("</table>").unwrap()].matches("<tr><td>").count();
    assert!(rows >= 2, "a row per change: {table}");
    let changes = &html[html.find("id=\"recent-changes\"").unwrap()..];
    assert!(changes.contains("Owner &lt;owner@alpha.example&gt;"), "the owner by name and address: {changes}");
    assert!(changes.contains("Platform operator"));
    assert!(!changes.contains("account:"), "no raw account ids");
    assert!(!html.contains("op@platform.example"));
    let _ = scope;
}

#[tokio::test]
async fn the_console_rolls_up_stores_worst_first_and_names_its_audit() {
    let app = TestApp::start().await;
    let (alpha, _, _) = owner_of(&app, "alpha").await;
    let bravo = store(&app.db, "bravo", Some("dpo@bravo.example")).await;
    let console = app.console_cookie().await;
    for s in [&alpha, &bravo] {
        let (status, _) = page(&app, &format!("/console/stores/{}/security", s.id), &console).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, html) = page(&app, "/console", &console).await;
    assert_eq!(status, StatusCode::OK);
    let stores = &html[html.find("id=\"stores\"").unwrap()..html.find("id=\"controls\"").unwrap()];
    let (a, b) = (stores.find("Store alpha").unwrap(), stores.find("Store bravo").unwrap());
    assert!(a < b, "alpha (no security contact) needs more attention than bravo");
    assert!(stores.contains("The store names a security and data-protection contact"), "what alpha must fix");
    let controls = &html[html.find("id=\"controls\"").unwrap()..html.find("id=\"platform\"").unwrap()];
    let contact = &controls[controls.find("The store names a security and data-protection contact").unwrap()..];
    assert!(contact[..contact.find("</tr>").unwrap()].contains(">1 of 2</span>"), "{contact}");
    let audit = &html[html.find("id=\"audit\"").unwrap()..];
    assert!(audit.contains("store “Store alpha”") && audit.contains("store “Store bravo”"), "{audit}");
    assert!(!audit.contains(&format!("store:{}", alpha.id)), "store names, not ids");
}

//! Compliance views (issue #22 items 3–4, #20 item 8): statuses follow the live matrix, exports are hashed into
//! the audit chain and verified, a store's views stay its own, the TSR page is the operator's.

use palisade_core::matrix::{Area, Party};
use palisade_store::matrix::Registry;
use palisade_store::tenancy::{self, StoreSettings};
use palisade_web::compliance;
use reqwest::StatusCode;

use crate::support::{Csrf, TestApp, owner_of, store};

/// Every control this build registers (as `palisade::runtime::registry` does).
fn full_registry() -> Registry {
    let mut reg = Registry::default();
    palisade_store::controls::register(&mut reg).unwrap();
    palisade_identity::controls::register(&mut reg).unwrap();
    palisade_commerce::controls::register(&mut reg).unwrap();
    palisade_web::edge::shield::register(&mut reg).unwrap();
    palisade_web::register_card_testing_control(&mut reg).unwrap();
    palisade_backup::controls::register(&mut reg).unwrap();
    reg
}

async fn page(app: &TestApp, path: &str, cookie: &str) -> (StatusCode, String) {
    let res = app.client.get(app.url(path)).header("cookie", cookie).send().await.unwrap();
    (res.status(), res.text().await.unwrap().replace("&#x2f;", "/"))
}

/// The status shown for one item of a view page.
fn item_status(html: &str, key: &str) -> String {
    let at = html.find(&format!("id=\"{key}\"")).unwrap_or_else(|| panic!("{key} on the page"));
    let rest = &html[at..];
    let from = rest.find("class=\"status ").unwrap();
    let rest = &rest[from..];
    let open = rest.find('>').unwrap() + 1;
    let close = rest.find("</span>").unwrap();
    rest[open..close].to_owned()
}

#[test]
fn every_mapped_control_is_registered() {
    let reg = full_registry();
    let ids: Vec<&str> = reg.controls().iter().map(|c| c.id).collect();
    for id in compliance::mapped_control_ids() {
        assert!(ids.contains(&id), "the compliance tables name `{id}`, which no crate registers");
    }
}

/// Cells of the matrix (area × party) with no control today: none (the last one, the merchant's updates duty, is
/// `store.extensions-current`). A new gap fails the walk.
const KNOWN_EMPTY_CELLS: &[(Area, Party)] = &[];

#[test]
fn the_matrix_walk_finds_a_control_with_references_in_every_cell() {
    let reg = full_registry();
    let mut empty = Vec::new();
    for area in Area::ALL {
        for party in [Party::Platform, Party::Merchant] {
            let has = reg.controls().iter().any(|c| {
                c.area == area
                    && if party == Party::Platform { c.party == Party::Platform } else { c.party != Party::Platform }
            });
            if !has {
                empty.push((area, party));
            }
        }
    }
    assert_eq!(empty, KNOWN_EMPTY_CELLS, "empty cells of the matrix");
    for c in reg.controls() {
        assert!(!c.references.is_empty(), "{} names no obligation", c.id);
        assert!(c.references.iter().all(|r| !r.framework.is_empty() && !r.clause.is_empty()), "{}", c.id);
    }
}

#[tokio::test]
async fn statuses_follow_the_live_matrix() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let path = format!("/admin/stores/{}/security/compliance/pdpa", s.id);
    let (status, html) = page(&app, &path, &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(item_status(&html, "dpo"), "not met", "no contact yet");
    assert_eq!(item_status(&html, "consent"), "no live control yet");
    assert!(html.contains("← Security Center overview") && html.contains("← All compliance views"));
    tenancy::update_settings(
        &app.db,
        &scope,
        StoreSettings {
            name: None,
            security_contact: Some(Some(palisade_core::text::Email::parse("dpo@alpha.example").unwrap())),
        },
    )
    .await
    .unwrap();
    let (_, html) = page(&app, &path, &cookie).await;
    assert_eq!(item_status(&html, "dpo"), "met", "the contact is set now");
    assert!(html.contains("dpo@alpha.example"), "the evidence is the live detail");
    assert_eq!(item_status(&html, "breach"), "partly", "a gap keeps it from met");
    assert_eq!(item_status(&html, "consent"), "no live control yet", "never met without a control");
    for slug in ["cyber-essentials", "pci-saq-a"] {
        let (status, html) = page(&app, &format!("/admin/stores/{}/security/compliance/{slug}", s.id), &cookie).await;
        assert_eq!(status, StatusCode::OK, "{slug}");
        assert!(!html.contains("<script"));
    }
    let (_, html) = page(&app, &format!("/admin/stores/{}/security/compliance/pci-saq-a", s.id), &cookie).await;
    assert!(html.contains("pay.html, a platform template"), "the payment page evidence");
}

async fn export(app: &TestApp, path: &str, cookie: &str) -> Vec<u8> {
    let res = app.client.post(app.url(path)).csrf(app, cookie).form(&[("x", "")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    assert!(res.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    res.bytes().await.unwrap().to_vec()
}

async fn verify(app: &TestApp, path: &str, cookie: &str, bytes: Vec<u8>, field: &str) -> String {
    // multipart/form-data by hand (the test client has no multipart feature).
    let boundary = "palisade-test-boundary-7f3a";
    let disposition = if field == "file" {
        "form-data; name=\"file\"; filename=\"report.html\"\r\nContent-Type: text/html"
    } else {
        "form-data; name=\"text\""
    };
    let mut body = format!("--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n").into_bytes();
    body.extend_from_slice(&bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let res = app
        .client
        .post(app.url(path))
        .csrf(app, cookie)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.text().await.unwrap()
}

#[tokio::test]
async fn an_export_is_recorded_and_only_the_exact_copy_verifies() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let base = format!("/admin/stores/{}/security/compliance", s.id);
    let bytes = export(&app, &format!("{base}/cyber-essentials/export"), &cookie).await;
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.contains("Cyber Essentials readiness") && text.contains("Store alpha") && text.contains("@media print")
    );
    let hash = compliance::sha256_hex(&bytes);
    let events = palisade_store::audit::list_store(&app.db, &scope, 20).await.unwrap();
    let e = events.iter().find(|e| e.action == compliance::EXPORT_ACTION).expect("export recorded");
    assert_eq!(e.target, compliance::hash_target(&hash));
    assert!(palisade_store::audit::verify_store(&app.db, &scope).await.unwrap().broken.is_none());

    let ok = verify(&app, &format!("{base}/verify"), &cookie, bytes.clone(), "file").await;
    assert!(ok.contains("Genuine") && ok.contains(&hash), "{ok}");
    // Pasted into a text area, line ends come back as CRLF: still the same report.
    let pasted = text.replace('\n', "\r\n").into_bytes();
    assert!(verify(&app, &format!("{base}/verify"), &cookie, pasted, "text").await.contains("Genuine"));
    let edited = text.replacen("not met", "met", 1).into_bytes();
    let no = verify(&app, &format!("{base}/verify"), &cookie, edited, "file").await;
    assert!(no.contains("Not found") && !no.contains("Genuine"), "an edited copy is refused");

    // Another store's chain does not hold it: bravo's owner cannot verify alpha's report.
    let (b, _, bravo_cookie) = owner_of(&app, "bravo").await;
    let other =
        verify(&app, &format!("/admin/stores/{}/security/compliance/verify", b.id), &bravo_cookie, bytes, "file").await;
    assert!(other.contains("Not found"));
}

#[tokio::test]
async fn a_stores_compliance_views_are_its_own() {
    let app = TestApp::start().await;
    let (_, _, cookie) = owner_of(&app, "alpha").await;
    let bravo = store(&app.db, "bravo", Some("dpo@bravo.example")).await;
    for sub in ["", "/pdpa", "/cyber-essentials", "/pci-saq-a"] {
        let (status, html) = page(&app, &format!("/admin/stores/{}/security/compliance{sub}", bravo.id), &cookie).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{sub}");
        assert!(!html.contains("dpo@bravo.example"));
    }
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{}/security/compliance/pdpa/export", bravo.id)))
        .csrf(&app, &cookie)
        .form(&[("x", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let scope = palisade_store::StaffScope::system(bravo.id, "test");
    let events = palisade_store::audit::list_store(&app.db, &scope, 50).await.unwrap();
    assert!(events.iter().all(|e| e.action != compliance::EXPORT_ACTION), "nothing recorded in bravo's chain");
}

#[tokio::test]
async fn the_tsr_self_assessment_is_the_operators() {
    let app = TestApp::start().await;
    let (s, _, merchant) = owner_of(&app, "alpha").await;
    let res = app.client.get(app.url("/console/tsr")).header("cookie", &merchant).send().await.unwrap();
    assert_ne!(res.status(), StatusCode::OK, "a merchant does not get the console page");
    let res =
        app.client.post(app.url("/console/tsr/export")).csrf(&app, &merchant).form(&[("x", "")]).send().await.unwrap();
    assert_ne!(res.status(), StatusCode::OK);
    let console = app.console_cookie().await;
    let (_, before) = page(&app, "/console/tsr", &console).await;
    assert!(before.contains("Scam reports filed: <strong>0</strong>"), "{before}");
    // A buyer reports the store: the figure follows the table.
    let buyer = tenancy::create_account(
        &app.db,
        tenancy::NewAccount {
            email: palisade_core::text::Email::parse("buyer@tsr.example").unwrap(),
            display_name: "Buyer".into(),
            kind: tenancy::AccountKind::Buyer,
        },
    )
    .await
    .unwrap();
    palisade_commerce::scam_reports::file(
        &app.db,
        buyer.id,
        palisade_commerce::scam_reports::Subject::Store(s.id),
        "misleading",
        "prices change at checkout",
    )
    .await
    .unwrap();
    let (status, html) = page(&app, "/console/tsr", &console).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Scam reports filed: <strong>1</strong>"));
    for feature in [
        "Verifying seller authenticity",
        "Monitoring fraudulent seller behaviour",
        "Secure payment",
        "Keeping transaction records and user data",
        "Reporting and dispute resolution",
        "Scam reports per 10,000 orders",
        "Paid orders paid into escrow",
    ] {
        assert!(html.contains(feature), "{feature}");
    }
    assert!(html.contains("← Platform security"));
    let bytes = export(&app, "/console/tsr/export", &console).await;
    let hash = compliance::sha256_hex(&bytes);
    let events = palisade_store::audit::list_platform(&app.db, &palisade_store::scope::PlatformScope::system("t"), 20)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.action == compliance::EXPORT_ACTION && e.target == compliance::hash_target(&hash)));
    assert!(verify(&app, "/console/tsr/verify", &console, bytes.clone(), "file").await.contains("Genuine"));
    let mut edited = bytes;
    edited.push(b' ');
    assert!(verify(&app, "/console/tsr/verify", &console, edited, "file").await.contains("Not found"));
}

//! Seller verification through the real router (issue #20 item 1): payouts are impossible for an unverified
//! seller on the page and the API alike; the operator approves or rejects in the console; a bank-account change
//! blocks payouts again; documents are allow-listed by their bytes, capped, sealed at rest and downloaded as
//! attachments; another store's owner, a clerk without the payouts permission and a merchant in the console get
//! nowhere; the storefront shows the "Verified seller" badge.

use palisade_commerce::verification::{self, State};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Csrf as _, TestApp, grant_exactly, login, owner_of, staff, store_token_from_page};

fn form(app: &TestApp, cookie: &str, path: &str, body: &str) -> reqwest::RequestBuilder {
    app.client
        .post(app.url(path))
        .csrf(app, cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
}

async fn api_payout(app: &TestApp, store: &str, cookie: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/admin/stores/{store}/payouts")))
        .csrf(app, cookie)
        .header("content-type", "application/json")
        .body(r#"{"amount_minor": 100}"#)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

async fn page_payout(app: &TestApp, store: &str, cookie: &str) -> (StatusCode, String) {
    let res = form(app, cookie, &format!("/admin/stores/{store}/payouts"), "amount=1.00").send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

fn multipart(file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "palisade-verification-boundary-3xQ";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"document\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/pdf\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(app: &TestApp, store: &str, cookie: &str, file_name: &str, bytes: &[u8]) -> reqwest::Response {
    let (ctype, body) = multipart(file_name, bytes);
    app.client
        .post(app.url(&format!("/admin/stores/{store}/verification/documents")))
        .csrf(app, cookie)
        .header("content-type", ctype)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn decide(app: &TestApp, console: &str, store: &str, body: &str) -> reqwest::Response {
    form(app, console, &format!("/console/verifications/{store}/decide"), body).send().await.unwrap()
}

/// The queue shows the account and its holder; an approval names the account version it was shown, so an
/// approval from a page that showed none (or an older one) is refused, and the one shown goes through.
async fn approve_the_account_shown(app: &TestApp, console: &str, store: &str) {
    let html = app.client.get(app.url("/console/verifications")).header("cookie", console).send().await.unwrap();
    let html = html.text().await.unwrap();
    assert!(html.contains("DBS ****6789") && html.contains("in the name of <strong>Alpha</strong>"), "{html}");
    let version = html.split("name=\"account_version\" value=\"").nth(1).unwrap().split('"').next().unwrap();
    assert!(!version.is_empty(), "{html}");
    assert_eq!(decide(app, console, store, "decision=approve").await.status(), StatusCode::CONFLICT);
    let stale = format!("decision=approve&account_version={}", version.parse::<i64>().unwrap() - 1);
    assert_eq!(decide(app, console, store, &stale).await.status(), StatusCode::CONFLICT);
    let shown = format!("decision=approve&account_version={version}");
    assert_eq!(decide(app, console, store, &shown).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn payouts_are_impossible_until_an_operator_verifies_the_seller_on_every_path() {
    let app = TestApp::start().await;
    let (s, scope, owner) = owner_of(&app, "alpha").await;
    let store = s.id.to_string();

    // Unverified: the API and the page both refuse with the stable code, and a store token is refused too.
    let (status, body) = api_payout(&app, &store, &owner).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("seller_unverified")), "{body}");
    let (status, html) = page_payout(&app, &store, &owner).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("not verified"), "{html}");
    let token = store_token_from_page(&app, &store, &owner, "name=Books&permission=payouts&expires_days=30").await;
    let by_token = app
        .client
        .post(app.url(&format!("/api/v1/admin/stores/{store}/payouts")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"amount_minor": 100}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(by_token.status(), StatusCode::FORBIDDEN);

    // The seller submits on the Verification page; still no payout while it waits.
    let page = app.client.get(app.url(&format!("/admin/stores/{store}/verification"))).header("cookie", &owner);
    let html = page.send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Not verified") && html.contains("Back to payouts"), "{html}");
    let res =
        form(&app, &owner, &format!("/admin/stores/{store}/verification"), "kind=business&number=53143018C&name=Alpha")
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "a wrong check letter is refused");
    let res = form(
        &app,
        &owner,
        &format!("/admin/stores/{store}/verification"),
        "kind=business&number=53143018M&name=Alpha+Pte+Ltd",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(verification::get(&app.db, &scope).await.unwrap().state, State::Submitted);
    assert_eq!(api_payout(&app, &store, &owner).await.1["error"]["code"], "seller_unverified");

    // The operator sees it in the queue and approves; the payout now reaches the ledger (no balance here).
    let console = app.console_cookie().await;
    let queue = app.client.get(app.url("/console/verifications")).header("cookie", &console).send().await.unwrap();
    let html = queue.text().await.unwrap();
    assert!(html.contains("Alpha Pte Ltd") && html.contains("53143018M"), "{html}");
    assert!(html.contains("none on file"), "the operator sees that no payout account is on file: {html}");
    assert_eq!(decide(&app, &console, &store, "decision=approve").await.status(), StatusCode::SEE_OTHER);
    // Verified, but no bank account yet: still no payout.
    let (status, body) = api_payout(&app, &store, &owner).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("no_payout_account")), "{body}");

    // The storefront shows the badge.
    let shop = app.get("/s/alpha").await.text().await.unwrap();
    assert!(shop.contains("Verified seller"), "badge on the store page");

    // A bank account added after approval waits for a review too; then a different one blocks payouts again.
    let bank = format!("/admin/stores/{store}/verification/bank-account");
    let res = form(&app, &owner, &bank, "bank=DBS&holder=Alpha&number=123-456-789").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(api_payout(&app, &store, &owner).await.1["error"]["code"], "seller_unverified");
    verification::request_reverification(&app.db, &scope).await.unwrap();
    approve_the_account_shown(&app, &console, &store).await;
    assert_eq!(api_payout(&app, &store, &owner).await.1["error"]["code"], "insufficient_funds");
    form(&app, &owner, &bank, "bank=OCBC&holder=Alpha&number=555566667777").send().await.unwrap();
    let v = verification::get(&app.db, &scope).await.unwrap();
    assert_eq!((v.state, v.payout_account.as_deref()), (State::ReverifyNeeded, Some("OCBC ****7777")));
    let (status, body) = api_payout(&app, &store, &owner).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("seller_unverified")));
    assert_eq!(page_payout(&app, &store, &owner).await.0, StatusCode::FORBIDDEN);
    let account_hash: String = sqlx::query_scalar("SELECT account_hash FROM store_payout_accounts WHERE store_id = $1")
        .bind(scope.store_key())
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert!(!account_hash.contains("555566667777"), "the number is kept as a keyed hash");

    // Back through review.
    form(&app, &owner, &format!("/admin/stores/{store}/verification/reverify"), "").send().await.unwrap();
    let version = verification::get(&app.db, &scope).await.unwrap().payout_account_version.unwrap();
    let shown = format!("decision=approve&account_version={version}");
    assert_eq!(decide(&app, &console, &store, &shown).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(api_payout(&app, &store, &owner).await.1["error"]["code"], "insufficient_funds");
}

#[tokio::test]
async fn a_rejection_reaches_the_seller_and_an_nric_is_never_stored_in_full() {
    let app = TestApp::start().await;
    let (s, scope, owner) = owner_of(&app, "mei").await;
    let store = s.id.to_string();
    let res = form(
        &app,
        &owner,
        &format!("/admin/stores/{store}/verification"),
        "kind=individual&number=S1234567D&name=Tan+Mei",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let row: (Option<String>, Option<String>) =
        sqlx::query_as("SELECT nric_hash, nric_masked FROM store_verifications WHERE store_id = $1")
            .bind(scope.store_key())
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(row.1.as_deref(), Some("S****567D"));
    assert!(row.0.as_deref().is_some_and(|h| h.len() == 64 && !h.contains("1234567")));
    let console = app.console_cookie().await;
    assert_eq!(
        decide(&app, &console, &store, "decision=reject&reason=").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let res = decide(&app, &console, &store, "decision=reject&reason=The+photo+is+unreadable.").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = app
        .client
        .get(app.url(&format!("/admin/stores/{store}/verification")))
        .header("cookie", &owner)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("The photo is unreadable.") && html.contains("S****567D"), "{html}");
    assert!(!html.contains("S1234567D"));
    let audit = palisade_store::audit::list_store(&app.db, &scope, 50).await.unwrap();
    let rejected = audit.iter().find(|e| e.action == "verification.rejected").expect("audited");
    assert!(rejected.actor.starts_with("account:"), "{}", rejected.actor);
    assert!(audit.iter().all(|e| !e.details.contains("1234567")));
}

#[tokio::test]
async fn documents_are_allow_listed_sealed_and_downloaded_as_attachments_by_the_operator_only() {
    let app = TestApp::start().await;
    let (s, scope, owner) = owner_of(&app, "alpha").await;
    let (b, _, other) = owner_of(&app, "bravo").await;
    let store = s.id.to_string();
    let pdf = b"%PDF-1.7\n1 0 obj << >> endobj\nsecret business profile\n%%EOF".to_vec();

    // HTML renamed .pdf: refused (the firewall may answer before the handler's magic-byte check does).
    for html in
        [&b"<!doctype html><html><body><h1>Profile</h1></body></html>"[..], b"<html><script>alert(1)</script></html>"]
    {
        let res = upload(&app, &store, &owner, "profile.pdf", html).await;
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    // Other files renamed .pdf (a GIF, a ZIP, plain text): refused by their bytes.
    for fake in [&b"GIF89a\x01\x00\x01\x00"[..], b"PK\x03\x04 not a pdf", b"just some text"] {
        let res = upload(&app, &store, &owner, "profile.pdf", fake).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("PDF, PNG or JPEG"));
    }
    // Over the cap: refused (the declared length alone is enough).
    let big = vec![b'%'; verification::MAX_DOCUMENT_BYTES + 100 * 1024];
    assert_eq!(upload(&app, &store, &owner, "big.pdf", &big).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Without the CSRF token: refused.
    let (ctype, body) = multipart("profile.pdf", &pdf);
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{store}/verification/documents")))
        .header("cookie", &owner)
        .header("content-type", ctype)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Another store's owner: not found.
    assert_eq!(upload(&app, &store, &other, "profile.pdf", &pdf).await.status(), StatusCode::NOT_FOUND);
    assert!(verification::documents(&app.db, &scope).await.unwrap().is_empty(), "nothing stored so far");

    assert_eq!(upload(&app, &store, &owner, "profile.pdf", &pdf).await.status(), StatusCode::SEE_OTHER);
    let docs = verification::documents(&app.db, &scope).await.unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].content_type, "application/pdf");
    let sealed: String = sqlx::query_scalar("SELECT sealed FROM verification_documents WHERE id = $1")
        .bind(&docs[0].id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert!(!sealed.contains(&hex::encode(b"secret business profile")), "sealed at rest");

    // The merchant cannot download from the console; the operator can, as an attachment.
    let path = format!("/console/verifications/{store}/documents/{}", docs[0].id);
    let res = app.client.get(app.url(&path)).header("cookie", &owner).send().await.unwrap();
    assert!(!res.status().is_success(), "{}", res.status());
    let console = app.console_cookie().await;
    let res = app.client.get(app.url(&path)).header("cookie", &console).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert!(res.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.bytes().await.unwrap().as_ref(), pdf.as_slice());
    // The same document under another store's id is not found.
    let wrong = format!("/console/verifications/{}/documents/{}", b.id, docs[0].id);
    assert_eq!(app.client.get(app.url(&wrong)).header("cookie", &console).send().await.unwrap().status(), 404);
    let audit = palisade_store::audit::list_store(&app.db, &scope, 50).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "verification.document_viewed"));
}

#[tokio::test]
async fn other_stores_clerks_and_merchants_in_the_console_get_nowhere() {
    let app = TestApp::start().await;
    let (s, scope, owner) = owner_of(&app, "alpha").await;
    let (_, _, other) = owner_of(&app, "bravo").await;
    let store = s.id.to_string();
    let clerk = {
        let a = staff("clerk@alpha.example")
            .named("Clerk")
            .member_of(&app, &scope, palisade_store::tenancy::Role::Staff)
            .await;
        grant_exactly(&app, &scope, a.id, &["orders"]).await;
        login(&app, "clerk@alpha.example").await
    };
    let page = format!("/admin/stores/{store}/verification");
    let submit = "kind=business&number=53143018M&name=Alpha";
    // Bravo's owner submitting for alpha, reading alpha's page, setting alpha's bank account: not found.
    assert_eq!(form(&app, &other, &page, submit).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(app.client.get(app.url(&page)).header("cookie", &other).send().await.unwrap().status(), 404);
    let bank = format!("{page}/bank-account");
    let acct = "bank=DBS&holder=X&number=12345678";
    assert_eq!(form(&app, &other, &bank, acct).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    // A clerk without the payouts permission: forbidden.
    assert_eq!(app.client.get(app.url(&page)).header("cookie", &clerk).send().await.unwrap().status(), 403);
    assert_eq!(form(&app, &clerk, &page, submit).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(form(&app, &clerk, &bank, acct).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    // Without CSRF: refused.
    let res = app
        .client
        .post(app.url(&page))
        .header("cookie", &owner)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(submit)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(verification::get(&app.db, &scope).await.unwrap().state, State::Unverified, "nothing changed");

    // The owner submits; neither the owner nor another merchant can approve it through the console.
    assert_eq!(form(&app, &owner, &page, submit).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    for cookie in [&owner, &other] {
        let res = decide(&app, cookie, &store, "decision=approve").await;
        assert!(!res.status().is_success(), "{}", res.status());
        let res = app.client.get(app.url("/console/verifications")).header("cookie", cookie).send().await.unwrap();
        assert!(!res.status().is_success() || !res.text().await.unwrap().contains("53143018M"));
    }
    assert_eq!(verification::get(&app.db, &scope).await.unwrap().state, State::Submitted, "still waiting");
    // Oversized fields are refused whole.
    let console = app.console_cookie().await;
    let long = format!("decision=reject&reason={}", "x".repeat(1001));
    assert_eq!(decide(&app, &console, &store, &long).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(decide(&app, &console, "not-a-store", "decision=approve").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(verification::get(&app.db, &scope).await.unwrap().state, State::Submitted);
}

//! PDPA access and correction requests through the real router (issue #21 item 3): a buyer asks on "Your data",
//! the request reaches each store they bought from, the merchant answers from the Data requests queue with an
//! export the buyer downloads; nobody else can see or answer it. (The 30-day clock against an injected clock is
//! tested in palisade-commerce's `data_requests` test on both backends.)

use palisade_commerce::fraud::Fingerprints;
use palisade_commerce::orders::{self, Checkout, Line};
use palisade_commerce::payments::{TestGateway, card};
use palisade_core::text::Email;
use palisade_core::{AccountId, VariantId};
use palisade_store::scope::{StaffScope, StoreScope};
use palisade_store::tenancy::Role;
use reqwest::StatusCode;

use crate::support::{Csrf as _, TestApp, buyer, listing, owner_of, staff};

async fn order(
    app: &TestApp,
    scope: &StaffScope,
    buyer: AccountId,
    email: &str,
    v: VariantId,
    key: &str,
    street: &str,
) {
    let req = Checkout {
        guest_proof: None,
        email: Email::parse(email).unwrap(),
        address: palisade_commerce::address::ShippingAddress::parse(palisade_commerce::address::AddressFields {
            name: "Mei",
            line1: street,
            line2: "",
            city: "Singapore",
            postcode: "018989",
            country: "Singapore",
        })
        .unwrap(),
        lines: vec![Line { variant_id: v, quantity: 1 }],
        idempotency_key: palisade_commerce::idempotency::IdempotencyKey::parse(key).unwrap(),
        card: card("4242424242424242", "12/30", "123"),
        fingerprints: Fingerprints::default(),
    };
    let shopper = StoreScope::shopper(scope.store_id(), Some(buyer));
    orders::checkout(&app.db, &TestGateway, &shopper, req).await.unwrap();
}

async fn post(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.client.post(app.url(path)).csrf(app, cookie).form(form).send().await.unwrap()
}

async fn get(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    app.client.get(app.url(path)).header("cookie", cookie).send().await.unwrap()
}

#[tokio::test]
async fn a_buyer_asks_the_merchant_answers_with_an_export_and_nobody_else_gets_in() {
    let app = TestApp::start().await;
    let (a, a_scope, a_owner) = owner_of(&app, "alpha").await;
    let (b, b_scope, b_owner) = owner_of(&app, "bravo").await;
    let (mei, mei_cookie) = buyer("mei@buyer.example").signed_in(&app).await;
    let (tan, tan_cookie) = buyer("tan@buyer.example").signed_in(&app).await;
    let va = listing("oolong").sku("OOL-1").create(&app, &a_scope).await.variants[0].id;
    let vb = listing("sencha").sku("SEN-1").create(&app, &b_scope).await.variants[0].id;
    order(&app, &a_scope, mei.id, "mei@buyer.example", va, "k1", "1 Mei Street A").await;
    order(&app, &b_scope, mei.id, "mei@buyer.example", vb, "k2", "1 Mei Street B").await;
    order(&app, &a_scope, tan.id, "tan@buyer.example", va, "k3", "9 Tan Road").await;

    // Bounded input: refused whole with a stable code, nothing written.
    let long = "x".repeat(palisade_commerce::data_requests::MAX_DETAILS_CHARS + 1);
    let res = post(&app, "/account/data", &mei_cookie, &[("kind", "access"), ("details", &long)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("data-code=\"too_long\""));
    let res = post(&app, "/account/data", &mei_cookie, &[("kind", "everything"), ("details", "")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(palisade_commerce::data_requests::for_buyer(&app.db, mei.id).await.unwrap().is_empty());

    // Without the form's CSRF token nothing is sent.
    let forged = app
        .client
        .post(app.url("/account/data"))
        .header("cookie", &mei_cookie)
        .form(&[("kind", "access"), ("details", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(palisade_commerce::data_requests::for_buyer(&app.db, mei.id).await.unwrap().is_empty());

    let res = post(&app, "/account/data", &mei_cookie, &[("kind", "access"), ("details", "everything please")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get(&app, "/account/data", &mei_cookie).await.text().await.unwrap();
    assert!(page.contains("Store alpha") && page.contains("Store bravo"), "one request per store: {page}");
    assert!(page.contains("31 days left"), "{page}");

    // Store A's queue shows it; store B's owner cannot touch A's request.
    let queue = get(&app, &format!("/admin/stores/{}/data-requests", a.id), &a_owner).await;
    assert_eq!(queue.status(), StatusCode::OK);
    let html = queue.text().await.unwrap();
    assert!(html.contains("mei@buyer.example") && html.contains("Day 0 of 30"), "{html}");
    let requests = palisade_commerce::data_requests::queue(&app.db, &a_scope, 10).await.unwrap();
    let id = requests[0].id;
    let answer_a = format!("/admin/stores/{}/data-requests/{id}/export", a.id);
    let as_b = format!("/admin/stores/{}/data-requests/{id}/export", b.id);
    assert_eq!(post(&app, &as_b, &b_owner, &[]).await.status(), StatusCode::NOT_FOUND, "B's owner, B's store path");
    assert_eq!(post(&app, &answer_a, &b_owner, &[]).await.status(), StatusCode::NOT_FOUND, "B's owner, A's store");
    let json_as_b = format!("/admin/stores/{}/data-requests/{id}/export.json", b.id);
    assert_eq!(get(&app, &json_as_b, &b_owner).await.status(), StatusCode::NOT_FOUND);
    // A clerk of store A lacks the customer-data permission.
    let (_, clerk) = staff("clerk@alpha.example").signed_in_member(&app, &a_scope, Role::Staff).await;
    assert_eq!(post(&app, &answer_a, &clerk, &[]).await.status(), StatusCode::FORBIDDEN);
    assert!(palisade_commerce::data_requests::get(&app.db, &a_scope, id).await.unwrap().is_open());

    // Before an answer there is nothing to download.
    let mine = format!("/account/data/{id}/export.json");
    assert_eq!(get(&app, &mine, &mei_cookie).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(post(&app, &answer_a, &a_owner, &[]).await.status(), StatusCode::SEE_OTHER);
    let twice = post(&app, &answer_a, &a_owner, &[]).await;
    assert_eq!(twice.status(), StatusCode::CONFLICT, "answered once");

    let res = get(&app, &mine, &mei_cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let export = res.text().await.unwrap();
    assert!(export.contains("1 Mei Street A") && export.contains("OOL-1"), "{export}");
    assert!(!export.contains("Mei Street B") && !export.contains("Tan Road"), "{export}");
    let csv = get(&app, &format!("/account/data/{id}/export.csv"), &mei_cookie).await.text().await.unwrap();
    assert!(csv.starts_with("section,reference,field,value") && csv.contains("1 Mei Street A"), "{csv}");
    // Another buyer cannot read it, signed in or not.
    assert_eq!(get(&app, &mine, &tan_cookie).await.status(), StatusCode::NOT_FOUND);
    assert_ne!(app.get(&mine).await.status(), StatusCode::OK);
    assert!(!get(&app, "/account/data", &tan_cookie).await.text().await.unwrap().contains("Store alpha"));
    // The merchant downloads what the buyer got.
    let own = get(&app, &format!("/admin/stores/{}/data-requests/{id}/export.csv", a.id), &a_owner).await;
    assert_eq!(own.status(), StatusCode::OK);
    assert!(own.text().await.unwrap().contains("1 Mei Street A"));
}

#[tokio::test]
async fn a_merchant_logs_an_emailed_request_and_refuses_or_corrects_with_a_reason() {
    let app = TestApp::start().await;
    let (a, a_scope, owner) = owner_of(&app, "alpha").await;
    let base = format!("/admin/stores/{}/data-requests", a.id);
    let long = "y".repeat(palisade_commerce::data_requests::MAX_DETAILS_CHARS + 1);
    let res =
        post(&app, &base, &owner, &[("email", "walkin@example.com"), ("kind", "access"), ("details", &long)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("data-code=\"too_long\""));
    let res = post(&app, &base, &owner, &[("email", "not an email"), ("kind", "access"), ("details", "")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res =
        post(&app, &base, &owner, &[("email", "walkin@example.com"), ("kind", "correction"), ("details", "")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let id = palisade_commerce::data_requests::queue(&app.db, &a_scope, 10).await.unwrap()[0].id;
    let correct = format!("{base}/{id}/correct");
    assert_eq!(post(&app, &correct, &owner, &[("note", "")]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(post(&app, &correct, &owner, &[("note", "name spelt right")]).await.status(), StatusCode::SEE_OTHER);
    let refuse = format!("{base}/{id}/refuse");
    assert_eq!(post(&app, &refuse, &owner, &[("note", "late")]).await.status(), StatusCode::CONFLICT);
    let html = get(&app, &base, &owner).await.text().await.unwrap();
    assert!(html.contains("Corrected: name spelt right"), "{html}");
}

/// A request received 31 days ago shows as overdue to the merchant and to the buyer (the clock itself, against an
/// injected clock, is tested in palisade-commerce; here the stored day 0 is moved back).
#[tokio::test]
async fn an_old_request_shows_overdue_on_both_sides() {
    let app = TestApp::start().await;
    let (a, a_scope, owner) = owner_of(&app, "alpha").await;
    let (mei, mei_cookie) = buyer("mei@buyer.example").signed_in(&app).await;
    let va = listing("oolong").sku("OOL-1").create(&app, &a_scope).await.variants[0].id;
    order(&app, &a_scope, mei.id, "mei@buyer.example", va, "k1", "1 Mei Street A").await;
    let res = post(&app, "/account/data", &mei_cookie, &[("kind", "access"), ("details", "")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let day = 24 * 3600 * 1000_i64;
    sqlx::query("UPDATE data_requests SET received_at = received_at - $1, due_at = due_at - $1 WHERE store_id = $2")
        .bind(31 * day)
        .bind(a.id.to_string())
        .execute(app.db.pool())
        .await
        .unwrap();
    let queue = get(&app, &format!("/admin/stores/{}/data-requests", a.id), &owner).await.text().await.unwrap();
    assert!(queue.contains("Overdue</strong> day 31"), "{queue}");
    let mine = get(&app, "/account/data", &mei_cookie).await.text().await.unwrap();
    assert!(mine.contains("<strong>Overdue</strong>"), "{mine}");
}

//! Issue #16, items 5, 9 and 12 over HTTP: idempotency keys bound to their sender and request, order access only
//! through a verified link or the buyer's account, query filters parsed at the edge, products without variants.

use palisade_commerce::catalog::{self, NewProduct, NewVariant, ProductStatus};
use palisade_commerce::policy::Policy;
use palisade_commerce::{ledger, orders};
use palisade_core::money::{Currency, Money};
use palisade_core::text::{Email, Slug};
use palisade_store::StaffScope;
use palisade_store::tenancy::{self, AccountKind, NewAccount};
use palisade_web::WebConfig;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::support::{Csrf, PW, TestApp, VISITOR, login, owner_of};

async fn product(app: &TestApp, scope: &StaffScope, slug: &str, stock: i64) -> catalog::Product {
    catalog::create_product(
        &app.db,
        scope,
        NewProduct {
            slug: Slug::parse(slug).unwrap(),
            title: format!("Item {slug}"),
            description: String::new(),
            status: ProductStatus::Published,
            category: None,
            variants: vec![NewVariant {
                sku: format!("{slug}-1"),
                options: json!({}),
                price: Money::new(1000, Currency::SGD),
                stock,
            }],
        },
    )
    .await
    .unwrap()
}

fn order_body(variant: &str, email: &str, card: &str) -> Value {
    json!({"email": email, "address": {"name": "Mei", "line1": "1 Road", "city": "SG", "postcode": "1", "country": "SG"},
           "lines": [{"variant_id": variant, "quantity": 1}], "card": {"number": card, "expiry": "12/30", "cvc": "123"}})
}

async fn post_order(app: &TestApp, body: &Value, key: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut req = app.client.post(app.url("/api/v1/stores/alpha/orders")).header("idempotency-key", key).json(body);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

async fn buyer(app: &TestApp, email: &str) -> String {
    let acct = tenancy::create_account(
        &app.db,
        NewAccount { email: Email::parse(email).unwrap(), display_name: "Buyer".into(), kind: AccountKind::Buyer },
    )
    .await
    .unwrap();
    app.identity().set_password(&acct, SecretString::from(PW.to_owned())).await.unwrap();
    login(app, email).await
}

#[tokio::test]
async fn a_reused_idempotency_key_gives_another_client_409_and_nothing_of_the_order() {
    let app = TestApp::start().await;
    let (_, scope, _) = owner_of(&app, "alpha").await;
    let p = product(&app, &scope, "kettle", 10).await;
    let v = &p.variants[0].id.to_string();
    let mine = order_body(v, "mei@buyer.example", "4242424242424242");

    let first = post_order(&app, &mine, "predictable-1", None).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let order_id = first["order"]["id"].as_str().unwrap().to_owned();
    // The same guest (same card, same request) retrying gets the same order and link.
    let retry = post_order(&app, &mine, "predictable-1", None).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["order"]["id"], first["order"]["id"]);
    assert_eq!(retry["link"], first["link"]);

    // Someone else guessing the key: with their own body, with the victim's body but another card, or signed in.
    let eve_cookie = buyer(&app, "eve@buyer.example").await;
    let attempts = [
        (order_body(v, "eve@buyer.example", "5555555555554444"), None),
        (order_body(v, "mei@buyer.example", "5555555555554444"), None),
        (order_body(v, "eve@buyer.example", "4242424242424242"), None),
        (mine.clone(), Some(eve_cookie.as_str())),
    ];
    for (body, cookie) in attempts {
        let res = post_order(&app, &body, "predictable-1", cookie).await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "{body}");
        let text = res.text().await.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], "idempotency_key_reused");
        for secret in [order_id.as_str(), "mei@buyer.example", "4242", "?k=", "1 Road"] {
            assert!(!text.contains(secret), "the refusal leaks {secret}: {text}");
        }
    }
    // Nothing was reserved or created by the refused attempts.
    assert_eq!(catalog::get_product(&app.db, &scope, p.id).await.unwrap().variants[0].stock, 9);
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(n, 1);

    // A signed-in buyer's key is bound to their account: replayed by them it answers, by a guest it does not.
    let theirs = order_body(v, "eve@buyer.example", "4242424242424242");
    let placed = post_order(&app, &theirs, "eve-1", Some(&eve_cookie)).await;
    assert_eq!(placed.status(), StatusCode::CREATED);
    assert_eq!(post_order(&app, &theirs, "eve-1", Some(&eve_cookie)).await.status(), StatusCode::CREATED);
    assert_eq!(post_order(&app, &theirs, "eve-1", None).await.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn the_payment_form_replayed_from_another_cart_gets_409_not_the_order() {
    let app = TestApp::start().await;
    let (_, scope, _) = owner_of(&app, "alpha").await;
    let p = product(&app, &scope, "kettle", 10).await;
    let mut carts = Vec::new();
    for _ in 0..2 {
        let res = app
            .client
            .post(app.url("/cart/add"))
            .csrf(&app, VISITOR)
            .form(&[("variant_id", p.variants[0].id.to_string().as_str()), ("quantity", "1")])
            .send()
            .await
            .unwrap();
        let cookie = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with("palisade_cart="))
            .map(|c| c.split(';').next().unwrap().to_owned())
            .unwrap();
        carts.push(cookie);
    }
    let form = [
        ("idempotency_key", "same-key"),
        ("email", "mei@buyer.example"),
        ("name", "Mei"),
        ("line1", "1 Road"),
        ("city", "SG"),
        ("postcode", "1"),
        ("country", "SG"),
        ("card_number", "4242424242424242"),
        ("expiry", "12/30"),
        ("cvc", "123"),
    ];
    let pay = |cookie: String| app.client.post(app.url("/checkout/alpha")).csrf(&app, &cookie).form(&form).send();
    let paid = pay(carts[0].clone()).await.unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    let link = paid.headers()["location"].to_str().unwrap().to_owned();
    // The same form from another cart (same card, same everything): refused, the page shows no link.
    let replay = pay(carts[1].clone()).await.unwrap();
    assert_eq!(replay.status(), StatusCode::CONFLICT);
    let html = replay.text().await.unwrap();
    assert!(!html.contains(&link) && !html.contains("?k="), "no order link in the refusal");
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn an_order_opens_only_with_its_own_link_or_for_its_buyer() {
    let app = TestApp::start().await;
    let (_, scope, _) = owner_of(&app, "alpha").await;
    let p = product(&app, &scope, "kettle", 10).await;
    let v = &p.variants[0].id.to_string();
    let a: Value =
        post_order(&app, &order_body(v, "a@buyer.example", "4242424242424242"), "a", None).await.json().await.unwrap();
    let b: Value =
        post_order(&app, &order_body(v, "b@buyer.example", "4242424242424242"), "b", None).await.json().await.unwrap();
    let link = a["link"].as_str().unwrap();
    let link_a = link[link.find("/orders/").unwrap()..].to_owned();
    let b_id = b["order"]["id"].as_str().unwrap();
    let key_a = link_a.split_once("?k=").unwrap().1;
    assert_eq!(app.get(&link_a).await.status(), 200);
    // A's key does not open B, nor confirm or dispute it.
    assert_eq!(app.get(&format!("/orders/{b_id}?k={key_a}")).await.status(), 404);
    let confirm = app
        .client
        .post(app.url(&format!("/orders/{b_id}/confirm?k={key_a}")))
        .csrf(&app, VISITOR)
        .send()
        .await
        .unwrap();
    assert_eq!(confirm.status(), 404);
    let dispute = app
        .client
        .post(app.url(&format!("/orders/{b_id}/dispute?k={key_a}")))
        .csrf(&app, VISITOR)
        .form(&[("reason", "other"), ("statement", "mine now")])
        .send()
        .await
        .unwrap();
    assert_eq!(dispute.status(), 404);
    // A signed-in account that did not place a guest order does not see it either.
    let eve = buyer(&app, "eve@buyer.example").await;
    let res = app.client.get(app.url(&format!("/orders/{b_id}"))).header("cookie", &eve).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let (status,): (String,) =
        sqlx::query_as("SELECT status FROM orders WHERE id = $1").bind(b_id).fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(status, "paid", "nothing moved");
}

/// The buyer's order list names each order's store (read with the orders in one query) and lists no one else's.
#[tokio::test]
async fn a_buyers_order_list_names_each_store_and_holds_only_their_orders() {
    let app = TestApp::start().await;
    let (_, alpha, _) = owner_of(&app, "alpha").await;
    let (_, bravo, _) = owner_of(&app, "bravo").await;
    let va = product(&app, &alpha, "kettle", 10).await.variants[0].id.to_string();
    let vb = product(&app, &bravo, "teapot", 10).await.variants[0].id.to_string();
    let mei = buyer(&app, "mei@buyer.example").await;
    let raj = buyer(&app, "raj@buyer.example").await;
    let order = |store: &'static str, variant: &str, email: &str, cookie: &str, key: &str| {
        app.client
            .post(app.url(&format!("/api/v1/stores/{store}/orders")))
            .header("idempotency-key", key)
            .header("cookie", cookie)
            .json(&order_body(variant, email, "4242424242424242"))
            .send()
    };
    let mut ids = Vec::new();
    for (store, variant, key) in [("alpha", &va, "m1"), ("bravo", &vb, "m2")] {
        let res = order(store, variant, "mei@buyer.example", &mei, key).await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "{store}");
        let body: Value = res.json().await.unwrap();
        ids.push(body["order"]["id"].as_str().unwrap().to_owned());
    }
    let res = order("alpha", &va, "raj@buyer.example", &raj, "r1").await.unwrap();
    let rajs: Value = res.json().await.unwrap();
    let raj_id = rajs["order"]["id"].as_str().unwrap();

    let page = |cookie: &str| app.client.get(app.url("/account/orders")).header("cookie", cookie).send();
    let html = page(&mei).await.unwrap().text().await.unwrap();
    assert!(html.contains("Store alpha") && html.contains("Store bravo"), "both stores named");
    for id in &ids {
        assert!(html.contains(id.as_str()), "links to {id}");
    }
    assert!(!html.contains(raj_id), "not Raj's order");
    let html = page(&raj).await.unwrap().text().await.unwrap();
    assert!(html.contains("Store alpha") && !html.contains("Store bravo"));
    assert!(ids.iter().all(|id| !html.contains(id.as_str())), "not Mei's orders");
}

/// The fee and the protection window are the configuration's: the buyer's confirmation releases the money less
/// the configured fee, and the pages state the configured window.
#[tokio::test]
async fn the_configured_policy_sets_the_fee_taken_and_the_window_shown() {
    let policy = Policy::new(1_000, std::time::Duration::from_secs(14 * 24 * 3600)).unwrap();
    let app = TestApp::start_with(WebConfig { commerce: policy, ..WebConfig::default() }, |r, _| r).await;
    let (store, scope, owner) = owner_of(&app, "alpha").await;
    let v = product(&app, &scope, "kettle", 10).await.variants[0].id.to_string();
    let placed: Value =
        post_order(&app, &order_body(&v, "a@buyer.example", "4242424242424242"), "a", None).await.json().await.unwrap();
    let id = placed["order"]["id"].as_str().unwrap();
    let link = placed["link"].as_str().unwrap();
    let key = link.split_once("?k=").unwrap().1;
    orders::transition(&app.db, &scope, id.parse().unwrap(), orders::Status::Shipped, Some("SG1"), &Policy::default())
        .await
        .unwrap();
    let confirm =
        app.client.post(app.url(&format!("/orders/{id}/confirm?k={key}"))).csrf(&app, VISITOR).send().await.unwrap();
    assert_eq!(confirm.status(), StatusCode::SEE_OTHER);
    assert_eq!(orders::get(&app.db, &scope, id.parse().unwrap()).await.unwrap().status, orders::Status::Completed);
    assert_eq!(ledger::store_balance(&app.db, &scope, Currency::SGD).await.unwrap(), 900, "10.00 less 10%");

    let payouts = app
        .client
        .get(app.url(&format!("/admin/stores/{}/payouts", store.id)))
        .header("cookie", &owner)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(payouts.contains("14 days after"), "window shown to the merchant");
    assert!(payouts.contains("platform fee of 10%"), "fee shown to the merchant");
    let added = app
        .client
        .post(app.url("/cart/add"))
        .csrf(&app, VISITOR)
        .form(&[("variant_id", v.as_str()), ("quantity", "1")])
        .send()
        .await
        .unwrap();
    let cart = added
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("palisade_cart="))
        .unwrap();
    let pay = app.client.get(app.url("/checkout/alpha")).header("cookie", cart).send().await.unwrap();
    let pay = pay.text().await.unwrap();
    assert!(pay.contains("(or 14 days after delivery)"), "window shown to the buyer: {pay}");
}

#[tokio::test]
async fn unknown_filters_and_pages_are_400_not_500() {
    let app = TestApp::start().await;
    let (store, _, owner) = owner_of(&app, "alpha").await;
    for path in [
        format!("/api/v1/admin/stores/{}/orders?status=bogus", store.id),
        format!("/api/v1/admin/stores/{}/orders?status=PAID", store.id),
        format!("/api/v1/admin/stores/{}/orders?page=9223372036854775807", store.id),
        format!("/api/v1/admin/stores/{}/products?page=9223372036854775807", store.id),
    ] {
        let res = app.client.get(app.url(&path)).header("cookie", &owner).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        let v: Value = res.json().await.unwrap();
        assert!(v["error"]["code"] == "invalid_status" || v["error"]["code"] == "invalid_page", "{path}: {v}");
    }
    for path in [
        format!("/admin/stores/{}/orders?status=bogus", store.id),
        format!("/admin/stores/{}/orders?page=9223372036854775807", store.id),
        format!("/admin/stores/{}/products?page=9223372036854775807", store.id),
    ] {
        let res = app.client.get(app.url(&path)).header("cookie", &owner).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
    }
    let ok = app
        .client
        .get(app.url(&format!("/api/v1/admin/stores/{}/orders?status=paid", store.id)))
        .header("cookie", &owner)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_product_without_variants_renders_and_cannot_be_published() {
    let app = TestApp::start().await;
    let (store, scope, owner) = owner_of(&app, "alpha").await;
    let p = product(&app, &scope, "kettle", 10).await;
    // An import can leave a product without variants.
    sqlx::query("DELETE FROM variants WHERE product_id = $1")
        .bind(p.id.to_string())
        .execute(app.db.pool())
        .await
        .unwrap();
    let page = app.get("/s/alpha/p/kettle").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Not available"));
    assert_eq!(app.get("/api/v1/stores/alpha/products/kettle").await.status(), 200);
    for path in ["/", "/s/alpha", "/search?q=kettle", "/api/v1/search?q=kettle", "/api/v1/search"] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
    catalog::set_status(&app.db, &scope, p.id, ProductStatus::Draft).await.unwrap();
    let publish = app
        .client
        .post(app.url(&format!("/api/v1/admin/stores/{}/products/{}/status", store.id, p.id)))
        .header("cookie", &owner)
        .json(&json!({"status": "published"}))
        .send()
        .await
        .unwrap();
    assert_eq!(publish.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

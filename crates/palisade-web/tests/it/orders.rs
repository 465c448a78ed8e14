//! Issue #16, items 5, 9 and 12 over HTTP: idempotency keys bound to their sender and request, order access only
//! through a verified link or the buyer's account, query filters parsed at the edge, products without variants.

use palisade_commerce::catalog::{self, ProductStatus};
use palisade_commerce::policy::Policy;
use palisade_commerce::{ledger, orders};
use palisade_core::money::Currency;
use palisade_web::WebConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    Csrf, TestApp, VISITOR, add_to_cart, buyer, cart_cookie, listing, order_request, owner_of, place_order,
};

fn order_body(variant: impl serde::Serialize, email: &str, card: &str) -> Value {
    order_request(variant).email(email).card(card).json()
}

#[tokio::test]
async fn a_reused_idempotency_key_gives_another_client_409_and_nothing_of_the_order() {
    let app = TestApp::start().await;
    let (_, scope, _) = owner_of(&app, "alpha").await;
    let p = listing("kettle").stock(10).create(&app, &scope).await;
    let v = &p.variants[0].id;
    let mine = order_body(v, "mei@buyer.example", "4242424242424242");

    let first = place_order(&app, "alpha", "predictable-1", &mine, None).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let order_id = first["order"]["id"].as_str().unwrap().to_owned();
    // The same guest (same card, same request) retrying gets the same order and link.
    let retry = place_order(&app, "alpha", "predictable-1", &mine, None).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["order"]["id"], first["order"]["id"]);
    assert_eq!(retry["link"], first["link"]);

    // Someone else guessing the key: with their own body, with the victim's body but another card, or signed in.
    let (_, eve_cookie) = buyer("eve@buyer.example").signed_in(&app).await;
    let attempts = [
        (order_body(v, "eve@buyer.example", "5555555555554444"), None),
        (order_body(v, "mei@buyer.example", "5555555555554444"), None),
        (order_body(v, "eve@buyer.example", "4242424242424242"), None),
        (mine.clone(), Some(eve_cookie.as_str())),
    ];
    for (body, cookie) in attempts {
        let res = place_order(&app, "alpha", "predictable-1", &body, cookie).await;
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
    let placed = place_order(&app, "alpha", "eve-1", &theirs, Some(&eve_cookie)).await;
    assert_eq!(placed.status(), StatusCode::CREATED);
    assert_eq!(place_order(&app, "alpha", "eve-1", &theirs, Some(&eve_cookie)).await.status(), StatusCode::CREATED);
    assert_eq!(place_order(&app, "alpha", "eve-1", &theirs, None).await.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn the_payment_form_replayed_from_another_cart_gets_409_not_the_order() {
    let app = TestApp::start().await;
    let (_, scope, _) = owner_of(&app, "alpha").await;
    let p = listing("kettle").stock(10).create(&app, &scope).await;
    let mut carts = Vec::new();
    for _ in 0..2 {
        let res = add_to_cart(&app, None, &p.variants[0].id, "1").await;
        carts.push(cart_cookie(&res).unwrap());
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
    let p = listing("kettle").stock(10).create(&app, &scope).await;
    let v = &p.variants[0].id;
    let a: Value = place_order(&app, "alpha", "a", &order_body(v, "a@buyer.example", "4242424242424242"), None)
        .await
        .json()
        .await
        .unwrap();
    let b: Value = place_order(&app, "alpha", "b", &order_body(v, "b@buyer.example", "4242424242424242"), None)
        .await
        .json()
        .await
        .unwrap();
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
    let (_, eve) = buyer("eve@buyer.example").signed_in(&app).await;
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
    let va = listing("kettle").stock(10).create(&app, &alpha).await.variants[0].id;
    let vb = listing("teapot").stock(10).create(&app, &bravo).await.variants[0].id;
    let (_, mei) = buyer("mei@buyer.example").signed_in(&app).await;
    let (_, raj) = buyer("raj@buyer.example").signed_in(&app).await;
    let mut ids = Vec::new();
    for (store, variant, key) in [("alpha", &va, "m1"), ("bravo", &vb, "m2")] {
        let mine = order_body(variant, "mei@buyer.example", "4242424242424242");
        let res = place_order(&app, store, key, &mine, Some(&mei)).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{store}");
        let body: Value = res.json().await.unwrap();
        ids.push(body["order"]["id"].as_str().unwrap().to_owned());
    }
    let raj_order = order_body(va, "raj@buyer.example", "4242424242424242");
    let res = place_order(&app, "alpha", "r1", &raj_order, Some(&raj)).await;
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

/// Orders carry the store's own number: in the API, on the buyer's list and order page, on the merchant's list,
/// where a number or part of an email finds the order, and an id-shaped guess finds nothing of another store.
#[tokio::test]
async fn order_numbers_show_everywhere_and_merchants_find_orders_by_them() {
    let app = TestApp::start().await;
    let (store, alpha, owner) = owner_of(&app, "alpha").await;
    let v = listing("kettle").stock(10).create(&app, &alpha).await.variants[0].id;
    let mut links = Vec::new();
    for (key, email) in [("n1", "mei@buyer.example"), ("n2", "raj@buyer.example")] {
        let res = place_order(&app, "alpha", key, &order_request(v).email(email).json(), None).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        let link = body["link"].as_str().unwrap();
        let path = format!("/{}", link.splitn(4, '/').nth(3).unwrap());
        links.push((body["order"]["number"].as_i64().unwrap(), path));
    }
    assert_eq!(links.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1001, 1002]);
    let html = app.get(&links[1].1).await.text().await.unwrap();
    assert!(html.contains("Order #1002"), "the buyer's order page");

    let list = |q: &str| {
        let url = app.url(&format!("/admin/stores/{}/orders?q={q}", store.id));
        let owner = owner.clone();
        let client = app.client.clone();
        async move { client.get(url).header("cookie", owner).send().await.unwrap().text().await.unwrap() }
    };
    let all = list("").await;
    assert!(all.contains(">#1001</a>") && all.contains(">#1002</a>"), "the merchant's list");
    let found = list("%231002").await;
    assert!(found.contains(">#1002</a>") && !found.contains(">#1001</a>"), "by number");
    let found = list("mei%40").await;
    assert!(found.contains(">#1001</a>") && !found.contains(">#1002</a>"), "by email");
    assert!(list("%25").await.contains("No orders"), "a typed % matches nothing");
}

/// The fee and the protection window are the configuration's: the buyer's confirmation releases the money less
/// the configured fee, and the pages state the configured window.
#[tokio::test]
async fn the_configured_policy_sets_the_fee_taken_and_the_window_shown() {
    let policy = Policy::new(1_000, std::time::Duration::from_secs(14 * 24 * 3600)).unwrap();
    let app = TestApp::start_with(WebConfig { commerce: policy, ..WebConfig::default() }, |r, _| r).await;
    let (store, scope, owner) = owner_of(&app, "alpha").await;
    let v = listing("kettle").stock(10).create(&app, &scope).await.variants[0].id;
    let placed: Value = place_order(&app, "alpha", "a", &order_body(v, "a@buyer.example", "4242424242424242"), None)
        .await
        .json()
        .await
        .unwrap();
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
    let added = add_to_cart(&app, None, &v, "1").await;
    let cart = cart_cookie(&added).unwrap();
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
    let p = listing("kettle").stock(10).create(&app, &scope).await;
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

//! The storefront, checkout, buyer order pages, merchant commerce admin and the commerce API, end to end.

use palisade_commerce::catalog;
use palisade_commerce::payment_page::Outcome;
use palisade_commerce::{ledger, themes};
use palisade_core::money::Currency;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Csrf as _, VISITOR};
use crate::support::{
    Listing, TestApp, add_to_cart, cart_cookie, guest_payment, listing, order_request, owner_of, place_order,
};

/// A product (one "M" variant) whose description carries markup a merchant might paste, for the escaping checks.
fn marked_up(slug: &str, title: &str) -> Listing {
    listing(slug)
        .title(title)
        .description(&format!("{title}: <b>bold</b> <script>alert(1)</script> hand made."))
        .options(json!({"size": "M"}))
}

#[tokio::test]
#[allow(
    clippy::too_many_lines,
    reason = "one storefront journey, walked step by step from the guest's order to the merchant's balance"
)]
async fn a_guest_buys_the_merchant_ships_the_buyer_confirms_and_the_balance_shows_it() {
    let app = TestApp::start().await;
    let (store, scope, owner) = owner_of(&app, "tea").await;
    let p = marked_up("oolong", "Roasted Oolong").price(1850).stock(5).create(&app, &scope).await;
    palisade_commerce::orders::set_flat_shipping(&app.db, &scope, 350).await.unwrap();

    // Search finds it, the product page shows it with the description escaped.
    let search: Value = app.get("/api/v1/search?q=roasted%20oolong").await.json().await.unwrap();
    assert_eq!(search["cards"][0]["slug"], "oolong");
    let page = app.get("/s/tea/p/oolong").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Roasted Oolong"));
    assert!(!html.contains("<script>alert(1)</script>"), "merchant text is escaped");

    // Cart: a fresh cookie, then two units.
    let res = add_to_cart(&app, None, &p.variants[0].id.to_string(), "2").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = cart_cookie(&res).expect("a cart cookie");
    assert!(cookie.len() > 60);

    // The payment page: platform template, inventoried scripts with SRI, strict CSP, no caching.
    let pay = app.client.get(app.url("/checkout/tea")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(pay.status(), 200);
    let csp = pay.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self';") && !csp.contains("nonce"), "{csp}");
    assert_eq!(pay.headers()["cache-control"], "no-store");
    let body = pay.text().await.unwrap();
    assert!(body.contains("integrity=\"sha384-"), "scripts carry SRI");
    assert!(body.contains("SGD 40.50"), "2 × 18.50 + 3.50 shipping, computed on the server: {body}");

    // A declined card: 402, no order kept, stock untouched, the cart kept.
    let declined = app
        .client
        .post(app.url("/checkout/tea"))
        .csrf(&app, &cookie)
        .form(&guest_payment("k-declined", "4000000000000002"))
        .send()
        .await
        .unwrap();
    assert_eq!(declined.status(), StatusCode::PAYMENT_REQUIRED);
    assert!(declined.text().await.unwrap().contains("declined"));
    assert_eq!(catalog::get_product(&app.db, &scope, p.id).await.unwrap().variants[0].stock, 5);
    assert!(palisade_commerce::orders::list(&app.db, &scope, None, 10, 0).await.unwrap().is_empty(), "no order");

    // The test card pays; the buyer lands on the order's signed link.
    let paid = app
        .client
        .post(app.url("/checkout/tea"))
        .csrf(&app, &cookie)
        .form(&guest_payment("k-paid", "4242 4242 4242 4242"))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    let link = paid.headers()["location"].to_str().unwrap().to_owned();
    assert!(link.starts_with("/orders/") && link.contains("?k="), "{link}");
    let order_id =
        link.trim_start_matches("/orders/").split('?').next().unwrap().parse::<palisade_core::OrderId>().unwrap();
    assert_eq!(catalog::get_product(&app.db, &scope, p.id).await.unwrap().variants[0].stock, 3);
    assert_eq!(ledger::escrow_balance(&app.db, &scope, order_id).await.unwrap(), 4050);
    // The same form posted again (a double click) does not charge twice: the cart for that store is empty now.
    let again = app
        .client
        .post(app.url("/checkout/tea"))
        .csrf(&app, &cookie)
        .form(&guest_payment("k-paid", "4242424242424242"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(again.headers()["location"], "/cart");

    // The link opens the order; without or with a wrong key it does not exist.
    assert_eq!(app.get(&link).await.status(), 200);
    assert_eq!(app.get(&format!("/orders/{order_id}")).await.status(), 404);
    assert_eq!(app.get(&format!("/orders/{order_id}?k=00")).await.status(), 404);

    // The merchant ships from the admin (tracking number required).
    let ship_url = format!("/admin/stores/{}/orders/{order_id}/ship", store.id);
    let no_tracking =
        app.client.post(app.url(&ship_url)).csrf(&app, &owner).form(&[("tracking_no", " ")]).send().await.unwrap();
    assert_eq!(no_tracking.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let shipped = app
        .client
        .post(app.url(&ship_url))
        .csrf(&app, &owner)
        .form(&[("tracking_no", "SG123456789")])
        .send()
        .await
        .unwrap();
    assert_eq!(shipped.status(), StatusCode::SEE_OTHER);

    // The buyer confirms receipt through the link: completed, escrow released to the store.
    let (path, key) = link.split_once('?').unwrap();
    let confirm = app.client.post(app.url(&format!("{path}/confirm?{key}"))).csrf(&app, VISITOR).send().await.unwrap();
    assert_eq!(confirm.status(), StatusCode::SEE_OTHER);
    assert_eq!(ledger::escrow_balance(&app.db, &scope, order_id).await.unwrap(), 0);
    assert_eq!(ledger::store_balance(&app.db, &scope, Currency::SGD).await.unwrap(), 4050);
    let payouts = app
        .client
        .get(app.url(&format!("/admin/stores/{}/payouts", store.id)))
        .header("cookie", &owner)
        .send()
        .await
        .unwrap();
    assert!(payouts.text().await.unwrap().contains("SGD 40.50"));

    // A review of the completed order shows in the store's rating.
    let review = app
        .client
        .post(app.url(&format!("{path}/review?{key}")))
        .csrf(&app, VISITOR)
        .form(&[("rating", "5"), ("body", "Lovely")])
        .send()
        .await
        .unwrap();
    assert_eq!(review.status(), StatusCode::SEE_OTHER);
    let rating = palisade_commerce::reviews::summary(&app.db, &scope).await.unwrap();
    assert_eq!((rating.average, rating.count), (Some(5.0), 1));
    let twice = app
        .client
        .post(app.url(&format!("{path}/review?{key}")))
        .csrf(&app, VISITOR)
        .form(&[("rating", "1"), ("body", "again")])
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), StatusCode::CONFLICT);
    assert_eq!(ledger::audit(&app.db).await.unwrap().total, 0);
}

#[tokio::test]
async fn the_order_api_is_idempotent_and_refuses_bad_input_without_changing_anything() {
    let app = TestApp::start().await;
    let (_a, sa, _) = owner_of(&app, "alpha").await;
    let (_b, sb, _) = owner_of(&app, "bravo").await;
    let pa = marked_up("kettle", "Kettle").price(4200).stock(3).create(&app, &sa).await;
    let pb = marked_up("lamp", "Lamp").price(2500).stock(3).create(&app, &sb).await;
    let body =
        |variant: &str, qty: i64| order_request(variant).email("api@buyer.example").name("A").quantity(qty).json();
    let post = |b: Value, key: Option<&'static str>| {
        let mut req = app.client.post(app.url("/api/v1/stores/alpha/orders")).json(&b);
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        req.send()
    };
    let first = post(body(&pa.variants[0].id.to_string(), 1), Some("retry-1")).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let retry: Value =
        post(body(&pa.variants[0].id.to_string(), 1), Some("retry-1")).await.unwrap().json().await.unwrap();
    assert_eq!(first["order"]["id"], retry["order"]["id"], "a retried request returns the first order");
    assert_eq!(first["order"]["total"]["minor"], 4200);

    let code = |v: Value| v["error"]["code"].as_str().unwrap().to_owned();
    let no_key = post(body(&pa.variants[0].id.to_string(), 1), None).await.unwrap();
    assert_eq!(no_key.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(no_key.json().await.unwrap()), "idempotency_key_required");
    let negative = post(body(&pa.variants[0].id.to_string(), -2), Some("neg")).await.unwrap();
    assert_eq!(negative.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let other_store = post(body(&pb.variants[0].id.to_string(), 1), Some("other")).await.unwrap();
    assert_eq!(other_store.status(), StatusCode::NOT_FOUND, "another store's variant does not exist here");
    let too_many = post(body(&pa.variants[0].id.to_string(), 50), Some("many")).await.unwrap();
    assert_eq!(too_many.status(), StatusCode::CONFLICT);
    assert_eq!(code(too_many.json().await.unwrap()), "out_of_stock");
    let malformed = app
        .client
        .post(app.url("/api/v1/stores/alpha/orders"))
        .header("idempotency-key", "bad")
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(malformed.json().await.unwrap()), "malformed_json");
    let huge = app
        .client
        .post(app.url("/api/v1/stores/alpha/orders"))
        .header("idempotency-key", "huge")
        .header("content-type", "application/json")
        .body(vec![b' '; 3 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Nothing but the one order changed: stock 3 → 2, one order in alpha, none in bravo.
    assert_eq!(catalog::get_product(&app.db, &sa, pa.id).await.unwrap().variants[0].stock, 2);
    assert_eq!(catalog::get_product(&app.db, &sb, pb.id).await.unwrap().variants[0].stock, 3);
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn staff_of_one_store_cannot_see_or_touch_another_stores_orders_products_or_images() {
    let app = TestApp::start().await;
    let (a, sa, a_cookie) = owner_of(&app, "alpha").await;
    let (b, sb, _) = owner_of(&app, "bravo").await;
    let _pa = marked_up("kettle", "Kettle").price(4200).stock(3).create(&app, &sa).await;
    let pb = marked_up("lamp", "Lamp").price(2500).stock(3).create(&app, &sb).await;
    let get = |path: String| app.client.get(app.url(&path)).header("cookie", &a_cookie).send();
    // Through the other store's path: not a member, 404.
    assert_eq!(get(format!("/api/v1/admin/stores/{}/products", b.id)).await.unwrap().status(), 404);
    // Through their own path with the other store's ids: not found in their scope.
    assert_eq!(get(format!("/api/v1/admin/stores/{}/products/{}", a.id, pb.id)).await.unwrap().status(), 404);
    let stock = app
        .client
        .put(app.url(&format!("/api/v1/admin/stores/{}/variants/{}/stock", a.id, pb.variants[0].id)))
        .header("cookie", &a_cookie)
        .json(&json!({"stock": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(stock.status(), 404);
    assert_eq!(catalog::get_product(&app.db, &sb, pb.id).await.unwrap().variants[0].stock, 3);
    // An image of bravo's served under alpha's address does not exist.
    let png = palisade_commerce_png();
    let img =
        palisade_commerce::images::add(&app.db, &app_objects(&app), &sb, pb.id, png.into(), "lamp").await.unwrap();
    assert_eq!(app.get(&format!("/media/bravo/{}", img.id)).await.status(), 200);
    assert_eq!(app.get(&format!("/media/alpha/{}", img.id)).await.status(), 404);
}

/// The test app's object storage (the same directory the server uses).
fn app_objects(app: &TestApp) -> palisade_store::Objects {
    app.objects.clone()
}

/// A 2×2 PNG.
fn palisade_commerce_png() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 2, 2);
        enc.set_color(png::ColorType::Rgb);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[200u8; 12]).unwrap();
    }
    out
}

#[tokio::test]
async fn uploads_accept_images_only_and_serve_them_with_the_detected_type() {
    let app = TestApp::start().await;
    let (a, sa, cookie) = owner_of(&app, "alpha").await;
    let p = marked_up("kettle", "Kettle").price(4200).stock(3).create(&app, &sa).await;
    let url = app.url(&format!("/api/v1/admin/stores/{}/products/{}/images", a.id, p.id));
    let send = |bytes: Vec<u8>| {
        app.client.post(&url).csrf(&app, &cookie).header("content-type", "image/png").body(bytes).send()
    };
    let svg = send(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec()).await.unwrap();
    assert_eq!(svg.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = send(b"hello, not an image".to_vec()).await.unwrap();
    assert_eq!(text.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let ok = send(palisade_commerce_png()).await.unwrap();
    assert_eq!(ok.status(), StatusCode::CREATED);
    let img: Value = ok.json().await.unwrap();
    assert_eq!(img["content_type"], "image/png");
    let served = app.get(&format!("/media/alpha/{}", img["id"].as_str().unwrap())).await;
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    assert_eq!(served.bytes().await.unwrap().as_ref(), palisade_commerce_png().as_slice());
}

#[tokio::test]
async fn a_broken_merchant_template_falls_back_and_the_merchant_sees_the_error() {
    let app = TestApp::start().await;
    let (a, sa, cookie) = owner_of(&app, "alpha").await;
    marked_up("kettle", "Kettle").price(4200).stock(3).create(&app, &sa).await;
    let save = |name: &'static str, source: &'static str| {
        app.client
            .put(app.url(&format!("/api/v1/admin/stores/{}/theme/{name}", a.id)))
            .header("cookie", &cookie)
            .json(&json!({"source": source}))
            .send()
    };
    // `safe` does not exist for merchants: refused when saved.
    let unsafe_t = save("product.html", "{{ product.description | safe }}").await.unwrap();
    assert_eq!(unsafe_t.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A good version renders, escaped.
    assert_eq!(
        save("product.html", "<h1>Custom {{ product.title }}</h1>{{ product.description }}").await.unwrap().status(),
        201
    );
    let html = app.get("/s/alpha/p/kettle").await.text().await.unwrap();
    assert!(html.contains("<h1>Custom Kettle</h1>"), "{html}");
    // The script was removed when saved; the remaining markup is escaped by a template without `rich_text`.
    assert!(html.contains("&lt;b&gt;bold") && !html.contains("alert(1)"), "escaped: {html}");
    // A runaway loop is caught by the trial render when saved.
    let looping = "{% for i in range(1000) %}{% for j in range(1000) %}{{ i }}{% endfor %}{% endfor %}";
    assert_eq!(save("product.html", looping).await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    // One that loops only on real data passes the trial and fails in the shop: the shopper still gets a page,
    // from the last good version, and the version is marked broken with its error.
    let sneaky = "{% if product.title == 'Kettle' %}{% for i in range(1000) %}{% for j in range(1000) %}{{ i }}{% endfor %}{% endfor %}{% endif %}";
    assert_eq!(save("product.html", sneaky).await.unwrap().status(), 201);
    let res = app.get("/s/alpha/p/kettle").await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("<h1>Custom Kettle</h1>"), "fell back to the last good version");
    let versions = themes::versions(&app.db, &sa).await.unwrap();
    let broken = versions.iter().find(|v| v.version == 2).unwrap();
    assert!(broken.error.as_deref().unwrap_or_default().to_lowercase().contains("fuel"), "{:?}", broken.error);
    let admin = app
        .client
        .get(app.url(&format!("/admin/stores/{}/theme", a.id)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(admin.text().await.unwrap().contains("broken"));
    // A division by zero in a layout override: falls back to the default layout, never a 500.
    // The store's own stylesheet is an asset, not a template: saved as is, linked from the default layout.
    assert_eq!(
        save("theme.css", "body { background: #fdf6e3; } /* {{ not a template }} */").await.unwrap().status(),
        201
    );
    let store_page = app.get("/s/alpha").await.text().await.unwrap();
    assert!(store_page.contains("alpha&#x2f;theme.css?v=1"), "{store_page}");
    let css = app.get("/s/alpha/theme.css").await;
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(css.text().await.unwrap().contains("#fdf6e3"));
    let layout = "{% if store.slug == 'alpha' %}{{ 1 // 0 }}{% endif %}{% block content %}{% endblock %}";
    assert_eq!(save("layout.html", layout).await.unwrap().status(), 201);
    assert_eq!(app.get("/s/alpha").await.status(), 200);
}

#[tokio::test]
async fn the_payment_page_monitor_matches_the_live_page_and_alerts_on_a_change() {
    let app = TestApp::start().await;
    let outcome = palisade_web::payment_page::check(&app.db, &app.url("")).await.unwrap();
    let platform = palisade_store::scope::PlatformScope::system("test");
    let last = palisade_commerce::payment_page::recent(&app.db, &platform, 1).await.unwrap();
    assert_eq!(outcome, Outcome::Match, "{}", last[0].detail);
    assert_eq!(last[0].outcome, "match");
    // The same check against a page whose CSP was loosened (as an injected script would need).
    let tampered = TestApp::start_with(palisade_web::WebConfig::default(), |r, _| {
        r.layer(axum::middleware::map_response(|mut res: axum::response::Response| async move {
            res.headers_mut().insert("content-security-policy", "script-src *".parse().unwrap());
            res
        }))
    })
    .await;
    let outcome = palisade_web::payment_page::check(&tampered.db, &tampered.url("")).await.unwrap();
    assert_eq!(outcome, Outcome::Changed);
    let last = palisade_commerce::payment_page::recent(&tampered.db, &platform, 1).await.unwrap();
    assert_eq!(last[0].outcome, "changed");
    let mails = palisade_store::outbox::to_address(&tampered.db, "op@platform.example").await.unwrap();
    assert!(mails.iter().any(|m| m.subject.contains("payment page changed")));
}

/// The operator's dispute queue reads without ids: order number, store name, total with its currency, status badge.
async fn assert_queue_is_readable(app: &TestApp, console: &str, order_id: &str) {
    let queue = app.client.get(app.url("/console/disputes")).header("cookie", console).send().await.unwrap();
    let queue = queue.text().await.unwrap();
    for shown in [
        "Order #1001 at Store alpha",
        "Order #1002 at Store alpha",
        "SGD",
        "badge status-answered",
        "badge status-open",
        "fraud score ",
        "no tracking given",
    ] {
        assert!(queue.contains(shown), "the dispute queue shows {shown}: {queue}");
    }
    assert!(!queue.contains(order_id), "no raw order ids in the queue");
}

#[tokio::test]
async fn a_dispute_goes_from_buyer_to_merchant_to_operator_and_the_money_follows_the_decision() {
    let app = TestApp::start().await;
    let (a, sa, owner) = owner_of(&app, "alpha").await;
    let p = marked_up("kettle", "Kettle").price(4200).stock(3).create(&app, &sa).await;
    let body = order_request(p.variants[0].id).email("g@buyer.example").name("G").json();
    let mut ids = Vec::new();
    for key in ["d-1", "d-2"] {
        let res: Value = place_order(&app, "alpha", key, &body, None).await.json().await.unwrap();
        let link = res["link"].as_str().unwrap().to_owned();
        let id = res["order"]["id"].as_str().unwrap().to_owned();
        // The link is built on the configured public address; keep its path.
        let rel = &link[link.find("/orders/").unwrap()..];
        let (path, k) = rel.split_once('?').map(|(p, k)| (p.to_owned(), k.to_owned())).unwrap();
        let opened = app
            .client
            .post(app.url(&format!("{path}/dispute?{k}")))
            .csrf(&app, VISITOR)
            .form(&[("reason", "not_received"), ("statement", "Nothing came.")])
            .send()
            .await
            .unwrap();
        assert_eq!(opened.status(), StatusCode::SEE_OTHER);
        ids.push(id);
    }
    // The merchant answers one through the API.
    let disputes: Value = app
        .client
        .get(app.url(&format!("/api/v1/admin/stores/{}/disputes", a.id)))
        .header("cookie", &owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(disputes.as_array().unwrap().len(), 2);
    let first = disputes.as_array().unwrap().iter().find(|d| d["order_id"] == ids[0].as_str()).unwrap();
    let answered = app
        .client
        .post(app.url(&format!("/api/v1/admin/stores/{}/disputes/{}/respond", a.id, first["id"].as_str().unwrap())))
        .header("cookie", &owner)
        .json(&json!({"response": "Delivered to the lobby on Tuesday."}))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    // The operator decides both from the console: one for the buyer (refund), one for the merchant (release).
    let console = app.console_cookie().await;
    assert_queue_is_readable(&app, &console, &ids[0]).await;
    for (id, outcome) in [(&ids[0], "merchant"), (&ids[1], "buyer")] {
        let d = palisade_commerce::disputes::for_order(&app.db, &sa, id.parse().unwrap()).await.unwrap().unwrap();
        let res = app
            .client
            .post(app.url(&format!("/console/disputes/{}/{}/decide", a.id, d.id)))
            .csrf(&app, &console)
            .form(&[("outcome", outcome), ("note", "Decided on the evidence.")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{outcome}");
    }
    let o0 = palisade_commerce::orders::get(&app.db, &sa, ids[0].parse().unwrap()).await.unwrap();
    let o1 = palisade_commerce::orders::get(&app.db, &sa, ids[1].parse().unwrap()).await.unwrap();
    assert_eq!((o0.status.as_str(), o1.status.as_str()), ("completed", "refunded"));
    assert_eq!(o1.refunded_minor, 4200);
    assert_eq!(ledger::store_balance(&app.db, &sa, Currency::SGD).await.unwrap(), 4200);
    // A decided dispute cannot be decided again.
    let d = palisade_commerce::disputes::for_order(&app.db, &sa, ids[1].parse().unwrap()).await.unwrap().unwrap();
    let again = app
        .client
        .post(app.url(&format!("/console/disputes/{}/{}/decide", a.id, d.id)))
        .csrf(&app, &console)
        .form(&[("outcome", "merchant"), ("note", "Changed my mind.")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT, "the state forbids it (invalid_transition), the input was fine");
    assert_eq!(ledger::audit(&app.db).await.unwrap().total, 0);
}

/// A photo-sized PNG of noise (noise does not compress): about `w * h * 3` bytes.
fn big_png(w: u32, h: u32) -> Vec<u8> {
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    let mut x: u32 = 12345;
    for _ in 0..w * h * 3 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.push((x & 0xff) as u8);
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        let mut wr = enc.write_header().unwrap();
        wr.write_image_data(&data).unwrap();
    }
    out
}

#[tokio::test]
async fn photo_sized_images_upload_and_oversized_ones_are_refused() {
    let app = TestApp::start().await;
    let (a, sa, cookie) = owner_of(&app, "alpha").await;
    let p = marked_up("kettle", "Kettle").price(4200).stock(3).create(&app, &sa).await;
    let url = app.url(&format!("/api/v1/admin/stores/{}/products/{}/images", a.id, p.id));
    let photo = big_png(1000, 800);
    assert!(photo.len() > 2 * 1024 * 1024, "{}", photo.len());
    let ok =
        app.client.post(&url).csrf(&app, &cookie).header("content-type", "image/png").body(photo).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::CREATED);
    let huge = big_png(1600, 1200);
    assert!(huge.len() > palisade_commerce::images::MAX_BYTES);
    let refused =
        app.client.post(&url).csrf(&app, &cookie).header("content-type", "image/png").body(huge).send().await.unwrap();
    assert!(
        matches!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY | StatusCode::PAYLOAD_TOO_LARGE),
        "{}",
        refused.status()
    );
    // Other routes keep the small limit.
    let form = format!("tracking_no={}", "x".repeat(2 * 1024 * 1024));
    let big_form = app
        .client
        .post(app.url(&format!("/admin/stores/{}/orders/nope/ship", a.id)))
        .csrf(&app, &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(big_form.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(palisade_commerce::images::list(&app.db, &sa, p.id).await.unwrap().len(), 1);
}

/// HTML in a product description passes the shield (a route-and-field exception) and is cleaned with ammonia:
/// formatting reaches buyers, scripts and handlers do not.
#[tokio::test]
async fn html_descriptions_pass_the_shield_and_are_sanitised() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "tea").await;
    let description = r#"<p>Our <b>best</b> oolong.</p><ul><li>100 g</li></ul><script>alert(document.cookie)</script><img src=x onerror="alert(1)"><a href="javascript:alert(1)">x</a>"#;
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{}/products", s.id)))
        .csrf(&app, &cookie)
        .form(&[
            ("title", "Formatted oolong"),
            ("slug", "formatted"),
            ("description", description),
            ("sku", "FMT-1"),
            ("price", "18.50"),
            ("stock", "5"),
            ("publish", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the shield lets the description through");
    let stored = palisade_commerce::catalog::get_by_slug(&app.db, &scope, "formatted").await.unwrap();
    assert!(
        stored.description.contains("<b>best</b>") && !stored.description.contains("script"),
        "{}",
        stored.description
    );
    let html = app.get("/s/tea/p/formatted").await.text().await.unwrap();
    assert!(html.contains("<b>best</b>") && html.contains("<li>100 g</li>"), "formatting is shown");
    for gone in ["alert(document.cookie)", "onerror", "javascript:alert"] {
        assert!(!html.contains(gone), "{gone} reached the page");
    }
    // The same field anywhere else is still inspected.
    let probe = app.get("/search?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E").await;
    assert_eq!(probe.status(), StatusCode::FORBIDDEN);
}

/// The safety rating (issue #20 item 7) is on the store page, in words: the level, each factor with its figure,
/// and the honest "not yet verified".
#[tokio::test]
async fn the_store_page_shows_the_safety_rating_in_words() {
    let app = TestApp::start().await;
    let (_store, scope, _owner) = owner_of(&app, "rated").await;
    listing("jasmine").title("Jasmine").price(900).stock(5).create(&app, &scope).await;
    let (_other, other_scope, _) = owner_of(&app, "other").await;
    listing("sencha").title("Sencha").price(900).stock(5).create(&app, &other_scope).await;
    let html = app.get("/s/rated").await.text().await.unwrap();
    assert!(html.contains("<span class=\"platform-badge\">Safety rating: New seller</span>"), "{html}");
    for words in [
        "too little history to rate this store yet",
        "How this rating is worked out",
        "Seller identity: not rated",
        "not yet verified",
        "Time on Palisade",
        "Buyer disputes: not rated",
        "no paid orders in the last 90 days",
        "Ships on time",
        "no reviews yet",
    ] {
        assert!(html.contains(words), "the store page says `{words}`");
    }
}

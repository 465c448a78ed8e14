//! The storefront page cache: a cached page is the fresh render but for the request's own token, and every
//! write that changes a page shows on the next request, on every node (both backends, as every test here).

use palisade_commerce::catalog::{self, ProductStatus};
use palisade_commerce::orders::{self, Status};
use palisade_commerce::themes;
use palisade_core::money::{Currency, Money};
use palisade_store::tenancy::{self, StoreSettings};
use palisade_web::WebConfig;
use palisade_web::page_cache::PageCache;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{
    Csrf as _, Listing, TestApp, VISITOR, add_to_cart, cart_cookie, guest_payment, listing, metric, owner_of,
};

/// Another browser's pre-session cookie (so another token).
const OTHER: &str = "palisade_visitor=fedcba9876543210fedcba9876543210";
/// The four cached views of one product.
const VIEWS: [&str; 4] = ["/s/tea/p/sencha", "/s/tea", "/search?q=sencha", "/"];

fn config() -> WebConfig {
    let mut c = WebConfig { auto_attack_rps: 0, auto_attack_store_rps: 0, ..WebConfig::default() };
    c.limits.enabled = false;
    c
}

/// The product every view here shows (SGD 12.00, one "50g" variant).
fn sencha() -> Listing {
    listing("sencha")
        .title("Classic Sencha")
        .description("Steamed green tea.")
        .options(json!({"size": "50g"}))
        .price(1200)
}

async fn page(app: &TestApp, path: &str, cookie: &str) -> String {
    let res = app.client.get(app.url(path)).header("cookie", cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.text().await.unwrap()
}

/// Every node shows `needle` on each of `paths` (read twice: the second read is the cached one).
async fn shown(nodes: &[&TestApp], paths: &[&str], needle: &str) {
    for node in nodes {
        for path in paths {
            for _ in 0..2 {
                let html = page(node, path, VISITOR).await;
                assert!(html.contains(needle), "{path} on {} does not show {needle:?}:\n{html}", node.addr);
            }
        }
    }
}

#[tokio::test]
async fn a_cached_page_is_the_fresh_render_but_for_the_requests_token() {
    let app = TestApp::start_with(config(), |r, _| r).await;
    let (_, scope, _) = owner_of(&app, "tea").await;
    sencha().stock(3).create(&app, &scope).await;
    let uncached = app.second_node_adjusted(config(), |s| s.with_page_cache(PageCache::new(0))).await;
    let (mine, theirs) = (app.csrf(VISITOR), app.csrf(OTHER));
    for path in VIEWS {
        let first = page(&app, path, VISITOR).await;
        let cached = page(&app, path, VISITOR).await;
        // Each test node has its own master key, so its own tokens: compare with this node's token put in.
        let fresh = page(&uncached, path, VISITOR).await.replace(&uncached.csrf(VISITOR), &mine);
        assert_eq!(cached, first, "{path}");
        assert_eq!(cached, fresh, "{path}: a cached page is byte for byte the fresh render");
        // Another browser gets the same cached page with its own token.
        let other = page(&app, path, OTHER).await;
        assert!(!other.contains(&mine), "{path}: one browser's token never reaches another");
        assert_eq!(other.replace(&theirs, &mine), fresh, "{path}: only the token differs");
    }
    let product = page(&app, "/s/tea/p/sencha", VISITOR).await;
    assert!(product.contains(&format!("name=\"csrf\" value=\"{mine}\"")), "the buy form carries the token");

    // A first-time visitor gets a pre-session cookie with a cached page, and the page's form carries its token.
    let res = app.get("/s/tea/p/sencha").await;
    let visitor = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("palisade_visitor="))
        .expect("a pre-session cookie");
    assert!(res.text().await.unwrap().contains(&app.csrf(&visitor)));

    let metrics = app.get_authed("/metrics").await.text().await.unwrap();
    assert!(metric(&metrics, r#"palisade_page_cache_total{result="hit"}"#) >= 9.0, "{metrics}");
    assert!(metric(&metrics, r#"palisade_page_cache_total{result="miss"}"#) >= 4.0, "{metrics}");
}

#[tokio::test]
async fn writes_that_change_a_page_show_on_the_next_request_on_every_node() {
    let app = TestApp::start_with(config(), |r, _| r).await;
    let node2 = app.second_node(config()).await;
    let nodes = [&app, &node2];
    let (_, scope, _) = owner_of(&app, "tea").await;
    let p = sencha().stock(3).create(&app, &scope).await;
    let variant = p.variants[0].id;
    shown(&nodes, &VIEWS, "SGD 12.00").await;

    // The cache is in use: a write that goes around the domain functions (so does not bump the version) is not
    // seen. Nothing in the application writes this way; this is how the test knows pages come from the cache.
    sqlx::query("UPDATE variants SET price_minor = 1300 WHERE id = $1")
        .bind(variant.to_string())
        .execute(app.db.pool())
        .await
        .unwrap();
    shown(&nodes, &VIEWS, "SGD 12.00").await;

    // A price change.
    catalog::set_price(&app.db, &scope, variant, Money::new(1500, Currency::SGD)).await.unwrap();
    shown(&nodes, &VIEWS, "SGD 15.00").await;

    // Stock taken by an order placed on the other node.
    shown(&nodes, &["/s/tea/p/sencha"], "only 3 left").await;
    let add = add_to_cart(&node2, None, &variant, "1").await;
    assert_eq!(add.status(), StatusCode::SEE_OTHER);
    let cart = cart_cookie(&add).unwrap();
    let paid = node2
        .client
        .post(node2.url("/checkout/tea"))
        .csrf(&node2, &cart)
        .form(&guest_payment("k1", "4242 4242 4242 4242"))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    shown(&nodes, &["/s/tea/p/sencha"], "only 2 left").await;

    // A review of the completed order.
    let link = paid.headers()["location"].to_str().unwrap().to_owned();
    let order_id =
        link.trim_start_matches("/orders/").split('?').next().unwrap().parse::<palisade_core::OrderId>().unwrap();
    orders::transition(
        &app.db,
        &scope,
        order_id,
        Status::Shipped,
        Some("SG1"),
        &palisade_commerce::policy::Policy::default(),
    )
    .await
    .unwrap();
    let (path, key) = link.split_once('?').unwrap();
    // (Signed by node2's key: each test node has its own master key.)
    let confirm =
        node2.client.post(node2.url(&format!("{path}/confirm?{key}"))).csrf(&node2, VISITOR).send().await.unwrap();
    assert_eq!(confirm.status(), StatusCode::SEE_OTHER);
    let review = node2
        .client
        .post(node2.url(&format!("{path}/review?{key}")))
        .csrf(&node2, VISITOR)
        .form(&[("rating", "4"), ("body", "Grassy and bright")])
        .send()
        .await
        .unwrap();
    assert_eq!(review.status(), StatusCode::SEE_OTHER);
    shown(&nodes, &["/s/tea/p/sencha", "/s/tea"], "Grassy and bright").await;
    shown(&nodes, &["/"], "(1)</span>").await;

    // The store's settings: name and tagline.
    tenancy::update_settings(
        &app.db,
        &scope,
        StoreSettings { name: Some("Hill Tea House".into()), security_contact: None },
    )
    .await
    .unwrap();
    shown(&nodes, &VIEWS, "Hill Tea House").await;
    orders::set_tagline(&app.db, &scope, "Leaves from the hills").await.unwrap();
    shown(&nodes, &["/s/tea", "/"], "Leaves from the hills").await;

    // The theme.
    let source = "{% extends \"layout.html\" %}{% block content %}<h1>Theme two: {{ product.title }}</h1>{{ slot(\"buy\") }}{% endblock %}";
    themes::save(&app.db, &scope, "product.html", source).await.unwrap();
    shown(&nodes, &["/s/tea/p/sencha"], "Theme two: Classic Sencha").await;

    // The product itself: unpublished, it leaves every listing and its page.
    catalog::set_status(&app.db, &scope, p.id, ProductStatus::Draft).await.unwrap();
    for node in nodes {
        assert_eq!(
            node.client.get(node.url("/s/tea/p/sencha")).header("cookie", VISITOR).send().await.unwrap().status(),
            404
        );
        assert!(!page(node, "/search?q=sencha", VISITOR).await.contains("Classic Sencha"));
    }
}

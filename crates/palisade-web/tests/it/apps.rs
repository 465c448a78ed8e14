//! Installed apps (issue #19, the app form) through the real router on both backends: an install grants a scoped,
//! expiring token and signed webhook subscriptions, shown once; store changes queue events that the delivery job
//! signs and sends; the app renews its token with it; removal tells the app and revokes everything. And what a
//! malicious app or merchant tries: routes staff keep, customer data above the app's level, another store,
//! renewing with a staff or an old token, hearing about another app's removal.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use palisade_commerce::webhooks::signature;
use palisade_core::VariantId;
use palisade_store::scope::PlatformScope;
use palisade_store::tenancy;
use palisade_web::{AppState, WebConfig};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;

use crate::extensions::{Publisher, post};
use crate::support::{Csrf as _, TestApp, listing, order_request, owner_of, place_order, store_token_from_page};

const SHEETS: &str = "com.example.sheets";
const AUDIT: &str = "com.example.audit-trail";

/// An app release: `scopes` and `webhooks` are TOML array bodies.
fn app_package(publisher: &str, id: &str, version: &str, scopes: &str, level: u8, webhooks: &str) -> Vec<u8> {
    let manifest = format!(
        "manifest_version = 1\nid = \"{id}\"\nname = \"Sheets sync\"\npublisher = \"{publisher}\"\nversion = \"{version}\"\n\
         palisade = \">=0.1\"\nscopes = [{scopes}]\ncustomer_data_level = {level}\nwebhooks = [{webhooks}]\n\n\
         [app]\nredirect_urls = [\"https://sheets.example.com/callback\"]\nwebhook_url = \"https://sheets.example.com/hooks?key=abc\"\n"
    );
    palisade_registry::build_package(&[("palisade-extension.toml", manifest.as_bytes())]).unwrap()
}

async fn publish_app(app: &TestApp, p: &Publisher, id: &str, scopes: &str, level: u8, webhooks: &str) {
    publish_app_version(app, p, id, "1.0.0", scopes, level, webhooks).await;
}

async fn publish_app_version(
    app: &TestApp,
    p: &Publisher,
    id: &str,
    version: &str,
    scopes: &str,
    level: u8,
    webhooks: &str,
) {
    let archive = app_package(p.handle, id, version, scopes, level, webhooks);
    let platform = PlatformScope::system("test");
    palisade_web::extensions::publish(&app.db.db, &app.objects, &platform, p.handle, &archive, &p.sign(&archive))
        .await
        .unwrap();
}

/// An app in the catalog for the browser walk to install.
pub(crate) async fn seed_for_walk(app: &TestApp) {
    let p = Publisher::new("sheets-co");
    p.register(app).await;
    let hooks = "\"order.paid\", \"product.updated\", \"app.uninstalled\"";
    publish_app(app, &p, SHEETS, "\"orders\", \"products\"", 0, hooks).await;
}

/// What a receiver got: headers and the raw body.
type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A receiver on 127.0.0.1 answering 200 to every POST, keeping what it got.
async fn receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let keep = Arc::clone(&seen);
    let router = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let keep = Arc::clone(&keep);
            async move {
                keep.lock().unwrap().push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, seen)
}

/// An app whose state the test keeps (to run the delivery job), with webhooks allowed to a loopback receiver.
async fn app_with_state() -> (TestApp, AppState) {
    let kept = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&kept);
    let config = WebConfig { webhooks_allow_private: true, ..WebConfig::default() };
    let app = TestApp::start_with(config, move |r, s| {
        *slot.lock().unwrap() = Some(s.clone());
        r
    })
    .await;
    let state = kept.lock().unwrap().take().unwrap();
    (app, state)
}

/// The token and the webhook secrets (by topic) the credentials page shows once.
struct Shown {
    token: String,
    secrets: Vec<(String, String, String)>,
}

async fn shown(res: reqwest::Response) -> Shown {
    assert_eq!(res.status(), StatusCode::OK, "the credentials page answers the install");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    let token = html
        .split(['>', '<'])
        .find(|w| w.starts_with("pal_st_"))
        .unwrap_or_else(|| panic!("no token on the page: {html}"))
        .to_owned();
    let between = |text: &str, from: &str, to: &str| -> String {
        text.split_once(from).and_then(|(_, rest)| rest.split_once(to)).map(|(v, _)| v.to_owned()).unwrap_or_default()
    };
    let secrets = html
        .split("<tr><td>")
        .skip(1)
        .map(|row| {
            let topic = row.split("</td>").next().unwrap_or_default().to_owned();
            (topic, between(row, "<td><code>", "</code>"), between(row, "<code class=\"secret\">", "</code>"))
        })
        .filter(|(_, _, secret)| secret.starts_with("pal_whsec_"))
        .collect();
    Shown { token, secrets }
}

async fn api(app: &TestApp, token: &str, method: reqwest::Method, path: &str) -> reqwest::Response {
    app.client.request(method, app.url(path)).bearer_auth(token).send().await.unwrap()
}

fn code_of(body: &Value) -> &str {
    body["error"]["code"].as_str().or_else(|| body["code"].as_str()).unwrap_or_default()
}

/// The token row: the release's scopes and level, 30 days, tied to the install; stored as a hash only.
async fn assert_token_row(app: &TestApp, store: &str, creds: &Shown) {
    let (scopes, level, expires, ext): (String, i64, i64, String) = sqlx::query_as(
        "SELECT scopes, data_level, expires_at, extension_id FROM api_tokens WHERE store_id = $1 AND revoked_at IS NULL",
    )
    .bind(store)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!((scopes.as_str(), level, ext.as_str()), (r#"["products","orders"]"#, 0, SHEETS));
    let days = (expires - app.db.now().0) / (24 * 3600 * 1000);
    assert!((29..=30).contains(&days), "expires in 30 days, not {days}");
    let everything: String = sqlx::query_as::<_, (String,)>("SELECT token_hash FROM api_tokens")
        .fetch_all(app.db.pool())
        .await
        .unwrap()
        .into_iter()
        .map(|(h,)| h)
        .collect();
    assert!(!everything.contains(&creds.token[7..]));
}

/// What the token may do: its scopes on the API, nothing staff keep, nothing above its level.
async fn assert_routes_limited(app: &TestApp, store: &str, token: &str) {
    // An upload route (its gate runs before routing) is one the app may use.
    let images = format!("/api/v1/admin/stores/{store}/products/0190a0a0-0000-7000-8000-000000000000/images");
    let upload = app.client.post(app.url(&images)).bearer_auth(token).body("x").send().await.unwrap();
    assert_ne!(upload.status(), StatusCode::FORBIDDEN, "{:?}", upload.text().await);
    let products = format!("/api/v1/admin/stores/{}/products", store);
    assert_eq!(api(app, token, reqwest::Method::GET, &products).await.status(), StatusCode::OK);
    for staff_only in ["tokens", "staff", "invitations", "firewall", "verification", "security/controls"] {
        let res = api(app, token, reqwest::Method::GET, &format!("/api/v1/admin/stores/{}/{staff_only}", store)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{staff_only}");
        assert_eq!(code_of(&res.json().await.unwrap()), "app_route_not_allowed", "{staff_only}");
    }
    // The method counts: reading the settings is allowed, changing them is not.
    let settings = format!("/api/v1/admin/stores/{store}/settings");
    let read = api(app, token, reqwest::Method::GET, &settings).await.json::<Value>().await.unwrap();
    assert_ne!(code_of(&read), "app_route_not_allowed", "{read}");
    let put = app.client.put(app.url(&settings)).bearer_auth(token).json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(code_of(&put.json().await.unwrap()), "app_route_not_allowed");
    let html = api(app, token, reqwest::Method::GET, &format!("/admin/stores/{}/security", store)).await;
    assert_eq!(html.status(), StatusCode::FORBIDDEN, "the admin pages are for people");
    let messages = api(app, token, reqwest::Method::GET, &format!("/api/v1/admin/stores/{}/messages", store)).await;
    assert_eq!(messages.status(), StatusCode::FORBIDDEN);
    assert_eq!(code_of(&messages.json().await.unwrap()), "app_data_level");
}

/// Events: a paid order and a price change queue signed deliveries; the app never receives the buyer's details.
async fn assert_events_signed(
    app: &TestApp,
    state: &AppState,
    store: &tenancy::Store,
    creds: &Shown,
    variant: VariantId,
) -> Seen {
    // The manifest's URL is a public https name; the test's receiver is on loopback (a name pointing there).
    let (url, seen) = receiver().await;
    sqlx::query("UPDATE webhook_subscriptions SET url = $1").bind(&url).execute(app.db.pool()).await.unwrap();
    let order =
        place_order(app, &store.slug, "k-sheets-1", &order_request(variant).email("mei@buyer.example").json(), None)
            .await;
    assert_eq!(order.status(), StatusCode::CREATED);
    let price = format!("/api/v1/admin/stores/{}/variants/{variant}/price", store.id);
    let res = app
        .client
        .put(app.url(&price))
        .bearer_auth(&creds.token)
        .json(&serde_json::json!({"price_minor": 1200}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
    let run = palisade_web::apps::deliver_due(state).await.unwrap();
    assert_eq!((run.delivered, run.retrying, run.gave_up), (2, 0, 0));
    let got = seen.lock().unwrap().clone();
    let now = app.db.now().0 / 1000;
    for (headers, body) in &got {
        let sub = headers["palisade-subscription"].to_str().unwrap();
        let (topic, _, secret) =
            creds.secrets.iter().find(|(_, id, _)| id == sub).expect("a subscription shown at install");
        assert_eq!(headers["palisade-topic"].to_str().unwrap(), topic);
        let header = headers["palisade-signature"].to_str().unwrap();
        signature::verify(&SecretString::from(secret.clone()), header, body, now).expect("signed with its secret");
        let text = String::from_utf8_lossy(body);
        assert!(!text.contains("mei@buyer.example") && !text.contains("1 Road"), "thin events: {text}");
    }
    let topics: Vec<String> = got.iter().map(|(h, _)| h["palisade-topic"].to_str().unwrap().to_owned()).collect();
    assert!(topics.contains(&"order.paid".to_owned()) && topics.contains(&"product.updated".to_owned()), "{topics:?}");

    seen
}

/// Level 0: the order list and the order answer without the buyer's email, address or account.
async fn assert_orders_without_contact(app: &TestApp, store: &str, token: &str) {
    let orders = api(app, token, reqwest::Method::GET, &format!("/api/v1/admin/stores/{}/orders", store)).await;
    let orders: Value = orders.json().await.unwrap();
    let first = &orders[0];
    assert!(first["number"].is_number(), "{orders}");
    for hidden in ["buyer_email", "address", "buyer_id", "card_last4", "card_brand", "tracking_no", "carrier"] {
        assert!(first.get(hidden).is_none(), "{hidden} hidden from a level-0 app: {first}");
    }
    let one = api(
        app,
        token,
        reqwest::Method::GET,
        &format!("/api/v1/admin/stores/{}/orders/{}", store, first["id"].as_str().unwrap()),
    )
    .await;
    let one: Value = one.json().await.unwrap();
    assert!(one["order"].get("buyer_email").is_none() && one["order"].get("address").is_none(), "{one}");
    assert!(!one.to_string().contains("mei@buyer.example"));
    assert!(one["events"].as_array().is_some_and(|e| !e.is_empty() && e.iter().all(|e| e.get("note").is_none())));
    assert!(!one.to_string().contains("4242"), "no card ending anywhere: {one}");
}

#[tokio::test]
async fn an_app_gets_a_scoped_expiring_token_and_signed_webhooks_and_loses_them_when_removed() {
    let (app, state) = app_with_state().await;
    let p = Publisher::new("sheets-co");
    p.register(&app).await;
    publish_app(
        &app,
        &p,
        SHEETS,
        "\"orders\", \"products\"",
        0,
        "\"order.paid\", \"product.updated\", \"app.uninstalled\"",
    )
    .await;
    let (s, scope, cookie) = owner_of(&app, "sheets-shop").await;
    let product = listing("mug").create(&app, &scope).await;
    let base = format!("/admin/stores/{}/security/extensions", s.id);

    let form = [("extension", SHEETS), ("version", "1.0.0"), ("policy", "manual"), ("delay_days", "")];
    let creds = shown(post(&app, &format!("{base}/install"), &cookie, &form).await).await;
    assert_eq!(
        creds.secrets.len(),
        3,
        "one secret per topic: {:?}",
        creds.secrets.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    assert_token_row(&app, &s.id.to_string(), &creds).await;
    assert_routes_limited(&app, &s.id.to_string(), &creds.token).await;
    let variant = product.variants[0].id;
    let seen = assert_events_signed(&app, &state, &s, &creds, variant).await;
    assert_orders_without_contact(&app, &s.id.to_string(), &creds.token).await;
    let products = format!("/api/v1/admin/stores/{}/products", s.id);

    // The tab shows the app's access and its deliveries.
    let tab = app.client.get(app.url(&base)).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(tab.contains("App access") && tab.contains(&creds.token[..13]) && tab.contains("delivered"), "{tab}");
    assert!(!tab.contains(&creds.token) && !tab.contains("key=abc"), "no secret, no URL query on the tab");

    // Renewal: with the token itself; the old one dies at once and cannot renew twice.
    let renew = format!("/api/v1/admin/stores/{}/app-token/renew", s.id);
    let renewed = api(&app, &creds.token, reqwest::Method::POST, &renew).await;
    assert_eq!(renewed.status(), StatusCode::CREATED);
    let renewed: Value = renewed.json().await.unwrap();
    let new_token = renewed["secret"].as_str().unwrap().to_owned();
    assert_eq!(api(&app, &creds.token, reqwest::Method::GET, &products).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api(&app, &creds.token, reqwest::Method::POST, &renew).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api(&app, &new_token, reqwest::Method::GET, &products).await.status(), StatusCode::OK);

    // Removal: the app hears app.uninstalled (and nothing after), its token is dead, its subscriptions ended.
    assert_eq!(post(&app, &format!("{base}/{SHEETS}/remove"), &cookie, &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(api(&app, &new_token, reqwest::Method::GET, &products).await.status(), StatusCode::UNAUTHORIZED);
    let run = palisade_web::apps::deliver_due(&state).await.unwrap();
    assert_eq!(run.delivered, 1);
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.0["palisade-topic"], "app.uninstalled");
    let price_again = app.client.get(app.url(&products)).send().await.unwrap();
    assert_ne!(price_again.status(), StatusCode::OK, "no credentials, no answer");
    let sgd = palisade_core::money::Currency::SGD;
    palisade_commerce::catalog::set_price(&app.db, &scope, variant, palisade_core::money::Money::new(1300, sgd))
        .await
        .unwrap();
    assert_eq!(palisade_web::apps::deliver_due(&state).await.unwrap().delivered, 0, "no events after removal");
    let actions: Vec<(String,)> = sqlx::query_as("SELECT action FROM audit_events WHERE store_id = $1")
        .bind(s.id.to_string())
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    for action in
        ["app_token.issued", "webhooks.subscribed", "app_token.renewed", "webhooks.removed", "app_token.revoked"]
    {
        assert!(actions.iter().any(|(a,)| a == action), "{action} audited");
    }

    // Installed again: new credentials, the same subscriptions brought back with new secrets.
    sqlx::query("UPDATE webhook_subscriptions SET url = $1")
        .bind("https://sheets.example.com/hooks?key=abc")
        .execute(app.db.pool())
        .await
        .unwrap();
    let again = shown(post(&app, &format!("{base}/install"), &cookie, &form).await).await;
    assert_eq!(again.secrets.len(), 3);
    assert!(again.secrets.iter().all(|(_, id, secret)| creds.secrets.iter().any(|(_, i, s)| i == id && s != secret)));
    assert_eq!(api(&app, &again.token, reqwest::Method::GET, &products).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_disabled_app_loses_its_access_and_an_update_narrows_its_grant() {
    let (app, state) = app_with_state().await;
    let p = Publisher::new("sheets-co");
    p.register(&app).await;
    let hooks = "\"order.paid\"";
    publish_app_version(&app, &p, SHEETS, "1.0.0", "\"orders\", \"customer_data\"", 1, hooks).await;
    publish_app_version(&app, &p, SHEETS, "1.1.0", "\"orders\"", 0, hooks).await;
    publish_app_version(&app, &p, SHEETS, "1.2.0", "\"orders\"", 0, "\"order.paid\", \"order.fulfilled\"").await;
    let (s, scope, cookie) = owner_of(&app, "sheets-narrow").await;
    let base = format!("/admin/stores/{}/security/extensions", s.id);
    let form = [("extension", SHEETS), ("version", "1.0.0"), ("policy", "manual"), ("delay_days", "")];
    let creds = shown(post(&app, &format!("{base}/install"), &cookie, &form).await).await;
    let orders = format!("/api/v1/admin/stores/{}/orders", s.id);
    assert_eq!(api(&app, &creds.token, reqwest::Method::GET, &orders).await.status(), StatusCode::OK);

    // Disabled by the platform (a critical advisory without a fix): no API, no renewal, no events; back when enabled.
    let disable = |at: Option<i64>| {
        sqlx::query("UPDATE store_extensions SET disabled_at = $1 WHERE store_id = $2")
            .bind(at)
            .bind(s.id.to_string())
            .execute(app.db.pool())
    };
    disable(Some(app.db.now().0)).await.unwrap();
    assert_eq!(api(&app, &creds.token, reqwest::Method::GET, &orders).await.status(), StatusCode::UNAUTHORIZED);
    let renew = format!("/api/v1/admin/stores/{}/app-token/renew", s.id);
    assert_eq!(api(&app, &creds.token, reqwest::Method::POST, &renew).await.status(), StatusCode::UNAUTHORIZED);
    let product = listing("pen").create(&app, &scope).await;
    let order = order_request(product.variants[0].id).json();
    assert_eq!(place_order(&app, &s.slug, "k-off-1", &order, None).await.status(), StatusCode::CREATED);
    let queued = palisade_commerce::webhooks::deliveries::list(&app.db, scope.scope(), 10).await.unwrap();
    assert!(queued.is_empty(), "no events for a disabled app: {queued:?}");
    let reissue = post(&app, &format!("{base}/{SHEETS}/app-token"), &cookie, &[]).await;
    assert_eq!(reissue.status(), StatusCode::NOT_FOUND, "no new credentials for a disabled app");
    disable(None).await.unwrap();
    assert_eq!(api(&app, &creds.token, reqwest::Method::GET, &orders).await.status(), StatusCode::OK);

    // An update that asks for less takes it from the token at once.
    assert_eq!(post(&app, &format!("{base}/{SHEETS}/update"), &cookie, &[("version", "1.1.0")]).await.status(), 303);
    let (scopes, level): (String, i64) =
        sqlx::query_as("SELECT scopes, data_level FROM api_tokens WHERE store_id = $1 AND revoked_at IS NULL")
            .bind(s.id.to_string())
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!((scopes.as_str(), level), (r#"["orders"]"#, 0));
    let thin: Value = api(&app, &creds.token, reqwest::Method::GET, &orders).await.json().await.unwrap();
    assert!(thin[0].get("buyer_id").is_none(), "level 0 now: {thin}");

    // One that changes the webhooks needs a reinstall (its new secrets must reach the app), even by hand.
    let changed = post(&app, &format!("{base}/{SHEETS}/update"), &cookie, &[("version", "1.2.0")]).await;
    assert_eq!(changed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(changed.text().await.unwrap().contains("install it again"));
    let version: (String,) = sqlx::query_as("SELECT version FROM store_extensions WHERE store_id = $1")
        .bind(s.id.to_string())
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(version.0, "1.1.0");
    drop(state);
}

#[tokio::test]
async fn an_app_stays_inside_its_store_its_level_and_its_own_events() {
    let (app, state) = app_with_state().await;
    let p = Publisher::new("sheets-co");
    p.register(&app).await;
    publish_app(&app, &p, SHEETS, "\"orders\"", 0, "\"order.paid\", \"app.uninstalled\"").await;
    publish_app(&app, &p, AUDIT, "\"orders\", \"customer_data\"", 2, "\"app.uninstalled\"").await;
    let (a, a_scope, a_cookie) = owner_of(&app, "app-shop-a").await;
    let (b, _, _) = owner_of(&app, "app-shop-b").await;
    let base = format!("/admin/stores/{}/security/extensions", a.id);
    let install =
        |id: &'static str| [("extension", id), ("version", "1.0.0"), ("policy", "manual"), ("delay_days", "")];
    let sheets = shown(post(&app, &format!("{base}/install"), &a_cookie, &install(SHEETS)).await).await;
    let audit = shown(post(&app, &format!("{base}/install"), &a_cookie, &install(AUDIT)).await).await;

    // Another store's data: not found, whatever the route.
    let theirs = api(&app, &sheets.token, reqwest::Method::GET, &format!("/api/v1/admin/stores/{}/orders", b.id)).await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);

    // Level 2 (granted at install, with the customer data scope): conversations and the buyer's contact details.
    let product = listing("cup").create(&app, &a_scope).await;
    let order = order_request(product.variants[0].id).email("lee@buyer.example").json();
    assert_eq!(place_order(&app, &a.slug, "k-app-2", &order, None).await.status(), StatusCode::CREATED);
    let orders = format!("/api/v1/admin/stores/{}/orders", a.id);
    let full: Value = api(&app, &audit.token, reqwest::Method::GET, &orders).await.json().await.unwrap();
    assert_eq!(full[0]["buyer_email"], "lee@buyer.example", "{full}");
    let thin: Value = api(&app, &sheets.token, reqwest::Method::GET, &orders).await.json().await.unwrap();
    assert!(thin[0].get("buyer_email").is_none(), "{thin}");
    let messages = format!("/api/v1/admin/stores/{}/messages", a.id);
    assert_eq!(api(&app, &audit.token, reqwest::Method::GET, &messages).await.status(), StatusCode::OK);

    // A staff token cannot renew itself into an app's 30-day token; a staff token is not an app token.
    let staff_token = store_token_from_page(&app, a.id, &a_cookie, "name=Sync&permission=orders&expires_days=30").await;
    let renew = format!("/api/v1/admin/stores/{}/app-token/renew", a.id);
    let refused = api(&app, &staff_token, reqwest::Method::POST, &renew).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(code_of(&refused.json().await.unwrap()), "not_an_app_token");
    let by_person = app.client.post(app.url(&renew)).csrf(&app, &a_cookie).send().await.unwrap();
    assert_eq!(by_person.status(), StatusCode::FORBIDDEN, "a person's session is not an app");
    assert_eq!(code_of(&by_person.json().await.unwrap()), "not_an_app_token");
    let (_, b_scope, _) = owner_of(&app, "app-shop-c").await;
    let (_, outsider) = crate::support::staff("out@c.example")
        .signed_in_member(&app, &b_scope, palisade_store::tenancy::Role::Owner)
        .await;
    let by_outsider = app.client.post(app.url(&renew)).csrf(&app, &outsider).send().await.unwrap();
    assert_eq!(by_outsider.status(), StatusCode::NOT_FOUND, "another store's member");
    assert_eq!(app.client.post(app.url(&renew)).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // Staff issue new credentials (the app lost them, or they leaked): the old token and secrets stop at once.
    let fresh = shown(post(&app, &format!("{base}/{SHEETS}/app-token"), &a_cookie, &[]).await).await;
    assert_eq!(fresh.secrets.len(), 2, "every webhook secret is new too");
    for (topic, id, secret) in &fresh.secrets {
        let old = sheets.secrets.iter().find(|(t, _, _)| t == topic).unwrap();
        assert!(old.1 == *id && old.2 != *secret, "{topic}: same subscription, new secret");
    }
    assert_eq!(api(&app, &sheets.token, reqwest::Method::GET, &orders).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api(&app, &fresh.token, reqwest::Method::GET, &orders).await.status(), StatusCode::OK);
    let not_app = post(
        &app,
        &format!("/admin/stores/{}/security/extensions/com.example.nothing/app-token", a.id),
        &a_cookie,
        &[],
    )
    .await;
    assert_eq!(not_app.status(), StatusCode::NOT_FOUND);

    // Removing one app tells that app only.
    let (url, seen) = receiver().await;
    sqlx::query("UPDATE webhook_subscriptions SET url = $1").bind(&url).execute(app.db.pool()).await.unwrap();
    palisade_web::apps::deliver_due(&state).await.unwrap();
    seen.lock().unwrap().clear();
    assert_eq!(post(&app, &format!("{base}/{SHEETS}/remove"), &a_cookie, &[]).await.status(), StatusCode::SEE_OTHER);
    palisade_web::apps::deliver_due(&state).await.unwrap();
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "only the removed app hears of it");
    let sub = got[0].0["palisade-subscription"].to_str().unwrap().to_owned();
    let (_, _, secret) = fresh.secrets.iter().find(|(topic, id, _)| *id == sub && topic == "app.uninstalled").unwrap();
    let (_, _, old) = sheets.secrets.iter().find(|(_, id, _)| *id == sub).unwrap();
    let header = got[0].0["palisade-signature"].to_str().unwrap();
    let now = app.db.now().0 / 1000;
    signature::verify(&SecretString::from(secret.clone()), header, &got[0].1, now).expect("signed with the new secret");
    assert!(signature::verify(&SecretString::from(old.clone()), header, &got[0].1, now).is_err(), "not the old one");
    assert_eq!(
        api(&app, &audit.token, reqwest::Method::GET, &orders).await.status(),
        StatusCode::OK,
        "the other app keeps its access"
    );
}

#[tokio::test]
async fn every_route_an_app_may_call_is_a_route_of_the_api() {
    let app = TestApp::start().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    for (method, path, _) in palisade_web::http::access::APP_ROUTES {
        let op = &doc["paths"][*path][method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not an API route");
    }
}

//! Amounts typed by merchants are read with their store's currency digits; a payment gateway outage and a
//! declined card are answered with their own status and code.

use std::sync::Arc;

use palisade_commerce::catalog;
use palisade_commerce::payments::{Card, Charge, GatewayError, PaymentGateway};
use palisade_core::money::{Currency, Money};
use palisade_store::StaffScope;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Csrf as _, TestApp, listing, order_request, owner_of, place_order};

/// Switches a new store (no products yet) to another currency, as an operator creating it in yen would.
async fn set_currency(app: &TestApp, store: &palisade_store::tenancy::Store, code: &str) {
    sqlx::query("UPDATE stores SET currency = $1 WHERE id = $2")
        .bind(code)
        .bind(store.id.to_string())
        .execute(app.db.pool())
        .await
        .unwrap();
}

async fn form_product(app: &TestApp, store: &str, cookie: &str, slug: &str, price: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/admin/stores/{store}/products")))
        .csrf(app, cookie)
        .form(&[
            ("title", "Matcha bowl"),
            ("slug", slug),
            ("sku", slug),
            ("price", price),
            ("stock", "4"),
            ("publish", "on"),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_yen_store_gets_the_price_it_typed_in_the_form_and_in_the_api() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "kyoto").await;
    set_currency(&app, &s, "JPY").await;

    // The HTML form: "500" is 500 yen, not 50 000.
    let res = form_product(&app, &s.id.to_string(), &cookie, "bowl", "500").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let p = catalog::get_by_slug(&app.db, &scope, "bowl").await.unwrap();
    assert_eq!(p.variants[0].price, Money::new(500, Currency::JPY));
    let page = app.get("/s/kyoto/p/bowl").await.text().await.unwrap();
    assert!(page.contains("JPY 500<") && !page.contains("JPY 50000"), "{page}");
    // The edit form shows the price as typed, so saving it unchanged keeps it.
    let edit = app
        .client
        .get(app.url(&format!("/admin/stores/{}/products/{}", s.id, p.id)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(edit.contains("name=\"price\" value=\"500\""), "{edit}");

    // Yen has no decimals: "5.5" is refused, and nothing is created.
    let res = form_product(&app, &s.id.to_string(), &cookie, "half", "5.5").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("more decimals than JPY has"));
    assert!(catalog::get_by_slug(&app.db, &scope, "half").await.is_err());

    // The API takes minor units: 1200 is 1200 yen, shown as such.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/admin/stores/{}/products", s.id)))
        .header("cookie", &cookie)
        .json(&json!({"slug": "tray", "title": "Tray", "status": "published",
                      "variants": [{"sku": "tray-1", "price_minor": 1200, "stock": 2}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["variants"][0]["price"], json!({"minor": 1200, "currency": "JPY"}));
    let page = app.get("/s/kyoto/p/tray").await.text().await.unwrap();
    assert!(page.contains("JPY 1200<"), "{page}");
}

#[tokio::test]
async fn amounts_typed_wrong_are_refused_with_a_clear_status_and_nothing_changes() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "tea").await;
    let shipping = |text: &'static str| {
        app.client
            .post(app.url(&format!("/admin/stores/{}/settings", s.id)))
            .csrf(&app, &cookie)
            .form(&[("shipping", text), ("tagline", "")])
            .send()
    };
    assert_eq!(shipping("3.5").await.unwrap().status(), StatusCode::SEE_OTHER);
    assert_eq!(palisade_commerce::orders::flat_shipping(&app.db, &scope).await.unwrap(), 350);
    for (bad, says) in [
        ("5.123", "more decimals than SGD has"),
        ("-1", "negative"),
        ("1e3", "not an amount"),
        ("1,000", "not an amount"),
        ("1 000", "not an amount"),
        ("", "not an amount"),
        ("99999999999999999999", "too large"),
    ] {
        let res = shipping(bad).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        let page = res.text().await.unwrap();
        assert!(page.contains(says), "{bad:?}: {page}");
    }
    assert_eq!(palisade_commerce::orders::flat_shipping(&app.db, &scope).await.unwrap(), 350, "nothing was saved");
    // The settings page shows the saved amount as it would be typed.
    let page = app
        .client
        .get(app.url(&format!("/admin/stores/{}/settings", s.id)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("value=\"3.50\""), "{page}");
}

/// A gateway that is down: every charge fails without an answer.
#[derive(Debug)]
struct DownGateway;

impl PaymentGateway for DownGateway {
    fn charge<'a>(
        &'a self,
        _amount: Money,
        _card: &'a Card,
        _idempotency: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Charge, GatewayError>> + Send + 'a>> {
        Box::pin(async { Err(GatewayError::Unavailable("connection refused by gw.example:443".into())) })
    }
}

async fn published(app: &TestApp, scope: &StaffScope) -> String {
    let p = listing("kettle").title("Kettle").price(4200).stock(3).create(app, scope).await;
    p.variants[0].id.to_string()
}

fn order(variant: &str, card: &str) -> Value {
    order_request(variant).email("api@buyer.example").name("A").card(card).json()
}

#[tokio::test]
async fn a_gateway_outage_is_503_payment_gateway_unavailable_and_not_the_buyers_fault() {
    let app = TestApp::start_adjusted(
        palisade_web::WebConfig::default(),
        |s| s.with_gateway(Arc::new(DownGateway)),
        |r, _| r,
    )
    .await;
    let (_s, scope, _) = owner_of(&app, "alpha").await;
    let variant = published(&app, &scope).await;
    let res = place_order(&app, "alpha", "outage-1", &order(&variant, "4242424242424242"), None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payment_gateway_unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("nothing was charged") && !message.contains("gw.example"), "{message}");
}

#[tokio::test]
async fn a_declined_card_is_402_card_declined_and_leaves_no_order() {
    let app = TestApp::start().await;
    let (_s, scope, _) = owner_of(&app, "alpha").await;
    let variant = published(&app, &scope).await;
    let res = place_order(&app, "alpha", "declined-1", &order(&variant, "4000000000000002"), None).await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "card_declined");
    assert!(body["error"]["message"].as_str().unwrap().contains("card declined"), "{body}");
    assert!(body.get("order").is_none(), "no order to show: {body}");
    assert!(palisade_commerce::orders::list(&app.db, &scope, None, 10, 0).await.unwrap().is_empty());
    // The buyer retries with another card.
    let res = place_order(&app, "alpha", "declined-1", &order(&variant, "4242424242424242"), None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

/// The expiry is a real month that has not ended: `1/29` is taken (as 01/29), a past month or a 13th month is 422
/// `invalid_expiry` before any gateway is asked, on the JSON API and on the payment page alike.
#[tokio::test]
async fn card_expiry_dates_are_checked_as_months_on_both_checkouts() {
    let app = TestApp::start().await;
    let (_s, scope, _) = owner_of(&app, "alpha").await;
    let variant = published(&app, &scope).await;
    let with_expiry = |expiry: &str| {
        let mut body = order(&variant, "4242424242424242");
        body["card"]["expiry"] = json!(expiry);
        body
    };
    for (i, past) in ["01/20", "13/29", "1/2", "next year"].into_iter().enumerate() {
        let res = place_order(&app, "alpha", &format!("exp-bad-{i}"), &with_expiry(past), None).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{past}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_expiry", "{past}");
    }
    assert!(palisade_commerce::orders::list(&app.db, &scope, None, 10, 0).await.unwrap().is_empty());
    let res = place_order(&app, "alpha", "exp-ok", &with_expiry("1/39"), None).await;
    assert_eq!(res.status(), StatusCode::CREATED, "a one-digit month is a month");

    let cart = crate::support::add_to_cart(&app, None, &variant, "1").await;
    let cookie = crate::support::cart_cookie(&cart).unwrap();
    let mut form = crate::support::guest_payment("exp-page", "4242424242424242");
    for field in &mut form {
        if field.0 == "expiry" {
            field.1 = "01/20";
        }
    }
    let page = app.client.post(app.url("/checkout/alpha")).csrf(&app, &cookie).form(&form).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.text().await.unwrap().contains("expired"));
}

/// A gateway that fails its first charge of each attempt key and approves the next, remembering what it did.
#[derive(Debug, Default)]
struct FlakyGateway {
    seen: std::sync::Mutex<Vec<String>>,
}

impl PaymentGateway for FlakyGateway {
    fn charge<'a>(
        &'a self,
        _amount: Money,
        _card: &'a Card,
        idempotency: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Charge, GatewayError>> + Send + 'a>> {
        Box::pin(async move {
            let mut seen = self.seen.lock().unwrap();
            let first = !seen.iter().any(|k| k == idempotency);
            seen.push(idempotency.to_owned());
            if first {
                Err(GatewayError::Unavailable("timed out".into()))
            } else {
                Ok(Charge::Approved {
                    reference: format!("ref-{idempotency}"),
                    brand: "visa".into(),
                    last4: "4242".into(),
                })
            }
        })
    }
}

/// After a gateway failure the buyer retries with the same key: the payment is asked again under the same attempt
/// key (so a gateway that did charge answers with that charge), the order becomes paid, and nothing is charged under
/// a second key — the order is not left unpaid with its stock held while the buyer is told it went through.
#[tokio::test]
async fn a_retry_after_a_gateway_failure_completes_the_same_order() {
    let gateway = Arc::new(FlakyGateway::default());
    let g = Arc::clone(&gateway);
    let app = TestApp::start_adjusted(palisade_web::WebConfig::default(), move |s| s.with_gateway(g), |r, _| r).await;
    let (_s, scope, _) = owner_of(&app, "alpha").await;
    let variant = published(&app, &scope).await;
    let body = order(&variant, "4242424242424242");
    let first = place_order(&app, "alpha", "flaky-1", &body, None).await;
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry = place_order(&app, "alpha", "flaky-1", &body, None).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    let placed: Value = retry.json().await.unwrap();
    assert_eq!(placed["order"]["status"], "paid");
    let list = palisade_commerce::orders::list(&app.db, &scope, None, 10, 0).await.unwrap();
    assert_eq!(list.len(), 1, "one order");
    let keys = gateway.seen.lock().unwrap().clone();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1], "the retry asked under the same attempt key");
    let again = place_order(&app, "alpha", "flaky-1", &body, None).await;
    assert_eq!(again.status(), StatusCode::CREATED, "a paid order replays");
    assert_eq!(gateway.seen.lock().unwrap().len(), 2, "and is not charged again");
}

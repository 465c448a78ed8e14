//! Fraud scoring, the review queue and the card-testing guard through HTTP (issue #20 items 2–4): held orders
//! cannot ship on the HTML admin or the API, approve and cancel work, another store cannot see or decide them,
//! a merchant's rule that does not parse is shown and not saved, and the guard challenges then refuses a run of
//! declines on the payment page and the API while another buyer goes through.

use palisade_commerce::fraud;
use palisade_commerce::orders::{self, Status};
use palisade_web::WebConfig;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{
    Csrf as _, TestApp, add_to_cart, cart_cookie, guest_payment, listing, order_request, owner_of, place_order,
};

fn behind_proxy() -> WebConfig {
    let mut config = WebConfig::default();
    config.limits.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap()];
    config
}

async fn shop(
    app: &TestApp,
    slug: &str,
) -> (palisade_store::tenancy::Store, palisade_store::StaffScope, String, String) {
    let (store, scope, owner) = owner_of(app, slug).await;
    let p = listing("apron").price(2500).stock(50).create(app, &scope).await;
    (store, scope, owner, p.variants[0].id.to_string())
}

async fn api_order(app: &TestApp, slug: &str, key: &str, body: &Value, from: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/stores/{slug}/orders")))
        .header("idempotency-key", key)
        .header("x-forwarded-for", from)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn held_order(app: &TestApp, slug: &str, variant: &str) -> String {
    let res = place_order(app, slug, "held-1", &order_request(variant).json(), None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    // The buyer is told nothing of the fraud check (score, reasons, hold): it would teach what to change.
    for field in ["review_state", "risk_score", "risk_reasons"] {
        assert!(body["order"].get(field).is_none(), "{field} shown to the buyer: {body}");
    }
    assert_eq!(body["order"]["status"], "paid");
    body["order"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_held_order_cannot_ship_on_the_html_admin_or_the_api_until_approved() {
    let app = TestApp::start().await;
    let (store, scope, owner, variant) = shop(&app, "alpha").await;
    fraud::set_rules(&app.db, &scope, "review if amount > 1").await.unwrap().unwrap();
    let id = held_order(&app, "alpha", &variant).await;
    let base = format!("/admin/stores/{}", store.id);

    // The queue shows it with its score, reasons and status in words.
    let page = app.client.get(app.url(&format!("{base}/orders/review"))).header("cookie", &owner).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("#1001") && page.contains("Held for review") && page.contains("of 100"), "{page}");
    assert!(page.contains("← All orders"), "a way back");

    // HTML ship: refused on the order page, with the reason.
    let res = app
        .client
        .post(app.url(&format!("{base}/orders/{id}/ship")))
        .csrf(&app, &owner)
        .form(&[("carrier", "SingPost"), ("tracking_no", "RR1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("held for review"));
    // HTML batch ship: skipped, and said why.
    let res = app
        .client
        .post(app.url(&format!("{base}/orders/ship")))
        .csrf(&app, &owner)
        .form(&[("order", id.as_str()), ("carrier_all", "SingPost"), ("tracking_all", "RR1")])
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().contains("held for review"));
    // API ship: 409 held_for_review.
    let api_ship = format!("/api/v1/admin/stores/{}/orders/{id}/ship", store.id);
    let res = app
        .client
        .post(app.url(&api_ship))
        .header("cookie", &owner)
        .json(&serde_json::json!({"tracking_no": "RR1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "held_for_review");
    let order = orders::get(&app.db, &scope, id.parse().unwrap()).await.unwrap();
    assert_eq!(order.status, Status::Paid);

    // Approve (HTML, with the form's token), then the API ships it.
    let no_csrf = app
        .client
        .post(app.url(&format!("{base}/orders/{id}/approve")))
        .header("cookie", &owner)
        .form(&[("note", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN, "a forged form is refused");
    let res = app
        .client
        .post(app.url(&format!("{base}/orders/{id}/approve")))
        .csrf(&app, &owner)
        .form(&[("note", "called the buyer")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    let res = app
        .client
        .post(app.url(&api_ship))
        .header("cookie", &owner)
        .json(&serde_json::json!({"tracking_no": "RR1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(orders::get(&app.db, &scope, id.parse().unwrap()).await.unwrap().status, Status::Shipped);
}

#[tokio::test]
async fn cancel_refunds_and_another_store_can_neither_see_nor_decide() {
    let app = TestApp::start().await;
    let (store, scope, owner, variant) = shop(&app, "alpha").await;
    let (bravo, _, bravo_owner, _) = shop(&app, "bravo").await;
    fraud::set_rules(&app.db, &scope, "review if amount > 1").await.unwrap().unwrap();
    let id = held_order(&app, "alpha", &variant).await;

    // Bravo's queue is empty; bravo's owner deciding alpha's order, through either store's path, gets 404.
    let page = app
        .client
        .get(app.url(&format!("/admin/stores/{}/orders/review", bravo.id)))
        .header("cookie", &bravo_owner)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains(&id) && page.contains("No orders are waiting"));
    for store_id in [bravo.id.to_string(), store.id.to_string()] {
        for action in ["approve", "cancel-review"] {
            let res = app
                .client
                .post(app.url(&format!("/admin/stores/{store_id}/orders/{id}/{action}")))
                .csrf(&app, &bravo_owner)
                .form(&[("confirm", "yes")])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{action} through {store_id}");
        }
    }
    let order = orders::get(&app.db, &scope, id.parse().unwrap()).await.unwrap();
    assert_eq!(order.review_state, fraud::ReviewState::Held, "unchanged");

    // Cancel needs the confirmation; then refunds in full.
    let base = format!("/admin/stores/{}", store.id);
    let res = app
        .client
        .post(app.url(&format!("{base}/orders/{id}/cancel-review")))
        .csrf(&app, &owner)
        .form(&[("note", "card testing")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .client
        .post(app.url(&format!("{base}/orders/{id}/cancel-review")))
        .csrf(&app, &owner)
        .form(&[("note", "card testing"), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection());
    let order = orders::get(&app.db, &scope, id.parse().unwrap()).await.unwrap();
    assert_eq!((order.status, order.review_state), (Status::Refunded, fraud::ReviewState::Cancelled));
    assert_eq!(order.refunded_minor, order.total.minor);
}

#[tokio::test]
async fn a_rule_that_does_not_parse_is_shown_with_its_position_and_nothing_is_saved() {
    let app = TestApp::start().await;
    let (store, scope, owner, _) = shop(&app, "alpha").await;
    let path = format!("/admin/stores/{}/fraud-rules", store.id);
    let res = app
        .client
        .post(app.url(&path))
        .csrf(&app, &owner)
        .form(&[("rules", "review if score > 60")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection());
    let res = app
        .client
        .post(app.url(&path))
        .csrf(&app, &owner)
        .form(&[("rules", "review if score > 70\r\nblock if scor > 90")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = res.text().await.unwrap();
    assert!(page.contains("Line 2, column 10") && page.contains("were not saved"), "{page}");
    assert!(page.contains("block if scor &gt; 90"), "the text comes back for correction");
    assert_eq!(fraud::rules(&app.db, &scope).await.unwrap(), "review if score > 60", "nothing saved");
    let page = app.client.get(app.url(&path)).header("cookie", &owner).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("review if score &gt; 60") && page.contains("← Settings"));
}

#[tokio::test]
async fn a_block_rule_refuses_on_both_checkouts_without_an_order() {
    let app = TestApp::start().await;
    let (_, scope, _, variant) = shop(&app, "alpha").await;
    fraud::set_rules(&app.db, &scope, "block if amount > 1").await.unwrap().unwrap();
    let res = place_order(&app, "alpha", "b-1", &order_request(&variant).json(), None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "order_refused");
    let cart = cart_cookie(&add_to_cart(&app, None, &variant, "1").await).unwrap();
    let res = app
        .client
        .post(app.url("/checkout/alpha"))
        .csrf(&app, &cart)
        .form(&guest_payment("b-2", "4242424242424242"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("nothing was charged"));
    assert!(orders::list(&app.db, &scope, None, 10, 0).await.unwrap().is_empty());
}

/// A solution of the guard's challenge, as the page's script or an API client finds it.
fn solve(challenge: &str) -> String {
    (0u64..)
        .map(|n| n.to_string())
        .find(|n| palisade_web::edge::challenge::solves(challenge, n, palisade_web::edge::challenge::BITS))
        .unwrap()
}

/// Luhn-valid numbers the test gateway declines (as declined, for funds, or as unknown).
const DECLINED: [&str; 8] = [
    "4000000000000002",
    "4000000000009995",
    "4000056655665556",
    "4111111111111111",
    "4012888888881881",
    "5105105105105100",
    "4000000000000010",
    "4000000000000028",
];

#[tokio::test]
async fn the_api_challenges_then_refuses_a_run_of_declines_and_another_buyer_goes_through() {
    let app = TestApp::start_with(behind_proxy(), |r, _| r).await;
    let (_, _, _, variant) = shop(&app, "alpha").await;
    let bot = "203.0.113.7";
    // A returning buyer paid here before the attack (the store knows their card).
    let regular = order_request(&variant).card("5555555555554444").email("regular@buyer.example").json();
    assert_eq!(api_order(&app, "alpha", "r-1", &regular, "198.51.100.9").await.status(), StatusCode::CREATED);
    for (i, card) in DECLINED.iter().take(5).enumerate() {
        let body = order_request(&variant).card(card).email(&format!("bot{i}@x.example")).json();
        let res = api_order(&app, "alpha", &format!("k{i}"), &body, bot).await;
        assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED, "attempt {i}");
    }
    // The 6th attempt from that address: a challenge, not the gateway.
    let sixth = order_request(&variant).card(DECLINED[5]).email("bot5@x.example").json();
    let res = api_order(&app, "alpha", "k5", &sixth, bot).await;
    assert_eq!(res.status(), StatusCode::PRECONDITION_REQUIRED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "checkout_challenge");
    let challenge = body["error"]["challenge"].as_str().unwrap().to_owned();
    // A wrong proof is no proof.
    let res = app
        .client
        .post(app.url("/api/v1/stores/alpha/orders"))
        .header("idempotency-key", "k5")
        .header("x-forwarded-for", bot)
        .header("x-checkout-challenge", &challenge)
        .header("x-checkout-proof", "nope")
        .json(&sixth)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PRECONDITION_REQUIRED);
    // Solved, it reaches the gateway once more (declined) ...
    let proof = solve(&challenge);
    let send = |challenge: String, proof: String| {
        app.client
            .post(app.url("/api/v1/stores/alpha/orders"))
            .header("idempotency-key", "k5")
            .header("x-forwarded-for", bot)
            .header("x-checkout-challenge", challenge)
            .header("x-checkout-proof", proof)
            .json(&sixth)
            .send()
    };
    // Another spelling of the same challenge (the tag upper-cased, the expiry with a leading zero), solved for
    // itself, passes the signature but is not the form the server issues: still challenged, so one challenge
    // cannot be respelled into many.
    let (head, tag) = challenge.rsplit_once('.').unwrap();
    let (nonce, exp) = head.split_once('.').unwrap();
    for respelled in [format!("{head}.{}", tag.to_uppercase()), format!("{nonce}.0{exp}.{tag}")] {
        let res = send(respelled.clone(), solve(&respelled)).await.unwrap();
        assert_eq!(res.status(), StatusCode::PRECONDITION_REQUIRED, "{respelled}");
    }
    assert_eq!(send(challenge.clone(), proof.clone()).await.unwrap().status(), StatusCode::PAYMENT_REQUIRED);
    // ... and the same solution is not accepted twice; from now on the address is refused.
    let res = send(challenge, proof).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "card_testing_refused");
    let seventh = order_request(&variant).card(DECLINED[6]).email("bot6@x.example").json();
    assert_eq!(api_order(&app, "alpha", "k6", &seventh, bot).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // The returning buyer, from their own address, is unaffected.
    assert_eq!(api_order(&app, "alpha", "r-2", &regular, "198.51.100.9").await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn the_payment_page_challenges_then_refuses_a_run_of_declines_and_another_buyer_goes_through() {
    let app = TestApp::start_with(behind_proxy(), |r, _| r).await;
    let (_, _, _, variant) = shop(&app, "alpha").await;
    let bot = "203.0.113.7";
    let pay = |cart: String, form: Vec<(String, String)>, from: &'static str| {
        app.client.post(app.url("/checkout/alpha")).csrf(&app, &cart).header("x-forwarded-for", from).form(&form).send()
    };
    // Each attempt with its own email, as a card tester's do (the same one would trip the score's own
    // failed-attempts rule first).
    let form = |key: &str, card: &str| -> Vec<(String, String)> {
        let email = format!("{key}@buyer.example");
        guest_payment(key, card)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), if k == "email" { email.clone() } else { v.to_owned() }))
            .collect()
    };
    // A returning buyer paid here before (the store knows their card).
    let regular = cart_cookie(&add_to_cart(&app, None, &variant, "1").await).unwrap();
    let res = pay(regular.clone(), form("r-1", "5555 5555 5555 4444"), "198.51.100.9").await.unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());

    let bot_cart = cart_cookie(&add_to_cart(&app, None, &variant, "1").await).unwrap();
    for (i, card) in DECLINED.iter().take(5).enumerate() {
        let res = pay(bot_cart.clone(), form(&format!("k{i}"), card), bot).await.unwrap();
        assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED, "attempt {i}");
    }
    let res = pay(bot_cart.clone(), form("k5", DECLINED[5]), bot).await.unwrap();
    assert_eq!(res.status(), StatusCode::PRECONDITION_REQUIRED);
    let page = res.text().await.unwrap();
    assert!(page.contains("small security check"), "the buyer is told why");
    let challenge = page.split("name=\"pow_c\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let mut solved = form("k5", DECLINED[5]);
    solved.push(("pow_c".into(), challenge.clone()));
    solved.push(("pow_n".into(), solve(&challenge)));
    assert_eq!(pay(bot_cart.clone(), solved, bot).await.unwrap().status(), StatusCode::PAYMENT_REQUIRED);
    let res = pay(bot_cart.clone(), form("k6", DECLINED[6]), bot).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.text().await.unwrap().contains("Too many declined payments"));
    // The returning buyer, from their own address and cart, is unaffected.
    let again = cart_cookie(&add_to_cart(&app, None, &variant, "1").await).unwrap();
    let res = pay(again, form("r-2", "5555 5555 5555 4444"), "198.51.100.9").await.unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
}

#[tokio::test]
async fn the_card_testing_control_reads_the_running_nodes_reports() {
    use palisade_core::matrix::ControlStatus;
    use palisade_store::matrix::{NodeFacts, Registry};

    let app = TestApp::start().await;
    let mut reg = Registry::default();
    palisade_web::register_card_testing_control(&mut reg).unwrap();
    let facts = std::sync::Arc::new(NodeFacts {
        data_dir: std::env::temp_dir(),
        master_key_path: std::env::temp_dir().join("k"),
    });
    let status = |r: &palisade_store::matrix::Report| {
        r.areas
            .iter()
            .flat_map(|a| a.platform.iter())
            .find(|c| c.control.id == "platform.card-testing-protection")
            .map(|c| c.status.clone())
            .unwrap()
    };
    // No node has reported yet (the test app does not report itself).
    sqlx::query("DELETE FROM platform_settings WHERE key LIKE 'shield.node.%'").execute(app.db.pool()).await.unwrap();
    let none = status(&reg.evaluate_platform(&app.db, &facts).await.unwrap());
    assert!(matches!(none, ControlStatus::Unmet { .. }), "{none:?}");
    palisade_web::edge::shield::report_node(&app.db, "node-a", &WebConfig::default()).await.unwrap();
    let on = status(&reg.evaluate_platform(&app.db, &facts).await.unwrap());
    assert!(on.is_met(), "{on:?}");
    // A node whose report says nothing of the guard (an older release) makes it unmet.
    palisade_store::settings::put(&app.db, "shield.node.node-b", &serde_json::json!({"mode": "block"})).await.unwrap();
    let old = status(&reg.evaluate_platform(&app.db, &facts).await.unwrap());
    assert!(matches!(&old, ControlStatus::Unmet { reason, .. } if reason.contains("node-b")), "{old:?}");
}

/// A burst of concurrent attempts from one address: each attempt let through counts against the address until
/// the gateway answers, so at most the five the threshold allows reach it — not every attempt that arrives
/// before the first decline is counted.
#[tokio::test]
async fn a_concurrent_burst_of_declines_reaches_the_gateway_at_most_five_times() {
    let app = TestApp::start_with(behind_proxy(), |r, _| r).await;
    let (_, _, _, variant) = shop(&app, "alpha").await;
    let bot = "203.0.113.44";
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..16 {
        let body = order_request(&variant).card(DECLINED[i % DECLINED.len()]).email(&format!("b{i}@x.example")).json();
        let (client, url) = (app.client.clone(), app.url("/api/v1/stores/alpha/orders"));
        burst.spawn(async move {
            let req = client.post(url).header("idempotency-key", format!("burst-{i}")).header("x-forwarded-for", bot);
            req.json(&body).send().await.unwrap().status()
        });
    }
    let statuses = burst.join_all().await;
    let reached = statuses.iter().filter(|s| **s == StatusCode::PAYMENT_REQUIRED).count();
    assert!(reached <= 5, "{reached} attempts reached the gateway: {statuses:?}");
    assert!(
        statuses.iter().all(|s| [
            StatusCode::PAYMENT_REQUIRED,
            StatusCode::PRECONDITION_REQUIRED,
            StatusCode::TOO_MANY_REQUESTS
        ]
        .contains(s)),
        "{statuses:?}"
    );
}

/// The stored keyed email keys of the store's orders, oldest first.
async fn email_keys(app: &TestApp, scope: &palisade_store::StaffScope) -> Vec<(String, Option<String>)> {
    sqlx::query_as("SELECT buyer_email, email_key FROM orders WHERE store_id = $1 ORDER BY number")
        .bind(scope.store_key())
        .fetch_all(app.db.pool())
        .await
        .unwrap()
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Review finding 3: a buyer varying their email's case, `+tag` or (at Gmail) dots is still one buyer for the
/// email velocity; the key is keyed (not a plain hash anyone can recompute from a guessed address).
#[tokio::test]
async fn respelling_an_email_does_not_reset_its_velocity() {
    let app = TestApp::start_with(behind_proxy(), |r, _| r).await;
    let (_, scope, _, variant) = shop(&app, "alpha").await;
    let spellings =
        ["Bob+1@Gmail.com", "b.o.b@googlemail.com", "bob@gmail.com", "BOB+shop@gmail.com", "bo.b@GMAIL.COM"];
    let mut last = Value::Null;
    for (i, email) in spellings.iter().enumerate() {
        // Two cards in turn, so the card velocity alone does not decide the reasons.
        let card = if i % 2 == 0 { "4242424242424242" } else { "5555555555554444" };
        let body = order_request(&variant).card(card).email(email).json();
        let res = api_order(&app, "alpha", &format!("e{i}"), &body, &format!("198.51.100.{}", 10 + i)).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{email}");
        last = res.json().await.unwrap();
    }
    let keys = email_keys(&app, &scope).await;
    assert_eq!(keys.len(), spellings.len());
    let first = keys[0].1.clone().expect("an email key is stored");
    assert!(keys.iter().all(|(_, k)| k.as_deref() == Some(first.as_str())), "one buyer: {keys:?}");
    assert!(!first.contains("bob"), "no email in clear");
    assert_ne!(first, sha256_hex("bob@gmail.com"), "keyed, not a plain hash of the normalised address");
    let id: palisade_core::OrderId = last["order"]["id"].as_str().unwrap().parse().unwrap();
    let fifth = orders::get(&app.db, &scope, id).await.unwrap();
    assert!(fifth.risk_reasons.iter().any(|r| r.code == "email_velocity"), "{:?}", fifth.risk_reasons);

    // Dots are someone else's mailbox outside Gmail, and another domain is another buyer.
    for (i, email) in ["bob@example.com", "b.o.b@example.com", "bob@gmail.co"].iter().enumerate() {
        let body = order_request(&variant).email(email).json();
        let res = api_order(&app, "alpha", &format!("o{i}"), &body, &format!("198.51.100.{}", 40 + i)).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{email}");
    }
    let keys = email_keys(&app, &scope).await;
    let others: std::collections::BTreeSet<_> = keys[spellings.len()..].iter().map(|(_, k)| k.clone()).collect();
    assert_eq!(others.len(), 3, "three different buyers: {keys:?}");
    assert!(!others.contains(&Some(first)));
}

/// Review finding 3: a declined attempt keeps the keyed, normalised email key (the unkeyed SHA-256 of the
/// address could be reversed by guessing), so the next attempt with a re-tagged address and a fresh card still
/// counts the decline.
#[tokio::test]
async fn a_decline_keeps_the_keyed_email_and_a_retagged_address_still_counts_it() {
    let app = TestApp::start_with(behind_proxy(), |r, _| r).await;
    let (_, scope, _, variant) = shop(&app, "alpha").await;
    let body = order_request(&variant).card(DECLINED[0]).email("Mallory+1@shop.example").json();
    assert_eq!(api_order(&app, "alpha", "d1", &body, "198.51.100.7").await.status(), StatusCode::PAYMENT_REQUIRED);
    let declines: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT email_hash FROM payment_declines WHERE store_id = $1")
            .bind(scope.store_key())
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    assert_eq!(declines.len(), 1);
    let kept = declines[0].0.clone().expect("the email's key is kept");
    for guess in ["Mallory+1@shop.example", "mallory+1@shop.example", "mallory@shop.example"] {
        assert_ne!(kept, sha256_hex(guess), "not a plain hash of {guess}");
    }

    let body = order_request(&variant).email("mallory+2@Shop.Example").json();
    let res = api_order(&app, "alpha", "p1", &body, "198.51.100.8").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let placed: Value = res.json().await.unwrap();
    let id: palisade_core::OrderId = placed["order"]["id"].as_str().unwrap().parse().unwrap();
    let order = orders::get(&app.db, &scope, id).await.unwrap();
    assert!(order.risk_reasons.iter().any(|r| r.code == "failed_attempts"), "{:?}", order.risk_reasons);
    assert_eq!(email_keys(&app, &scope).await[0].1.as_deref(), Some(kept.as_str()), "the same key as the decline");
}

/// Review finding 2, through HTTP: a held order the merchant refunds in full from its order page leaves the
/// review queue, and its page says the review is closed.
#[tokio::test]
async fn a_held_order_refunded_in_full_leaves_the_review_queue() {
    let app = TestApp::start().await;
    let (store, scope, owner, variant) = shop(&app, "alpha").await;
    fraud::set_rules(&app.db, &scope, "review if amount > 1").await.unwrap().unwrap();
    let id = held_order(&app, "alpha", &variant).await;
    let base = format!("/admin/stores/{}", store.id);
    let queue = || async {
        let res = app.client.get(app.url(&format!("{base}/orders/review"))).header("cookie", &owner).send().await;
        res.unwrap().text().await.unwrap()
    };
    assert!(queue().await.contains("#1001"));
    let total = orders::get(&app.db, &scope, id.parse().unwrap()).await.unwrap().total.minor;
    let amount = format!("{}.{:02}", total / 100, total % 100);
    let res = app
        .client
        .post(app.url(&format!("{base}/orders/{id}/refund")))
        .csrf(&app, &owner)
        .form(&[("amount", amount.as_str()), ("note", "out of stock"), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    let order = orders::get(&app.db, &scope, id.parse().unwrap()).await.unwrap();
    assert_eq!((order.status, order.review_state), (Status::Refunded, fraud::ReviewState::Closed));
    let page = queue().await;
    assert!(!page.contains("#1001") && page.contains("No orders are waiting"), "{page}");
    let page = app.client.get(app.url(&format!("{base}/orders/{id}"))).header("cookie", &owner).send().await;
    let page = page.unwrap().text().await.unwrap();
    assert!(page.contains("refunded or cancelled before a review") && !page.contains("cannot be shipped until"));
}

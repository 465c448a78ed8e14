//! Sensitive data has one place to live. A merchant's firewall tools (custom rules, their test-runs over recent
//! requests, firewall events) must not become a way to read what buyers type into checkout: card number, CVC,
//! expiry, email, address. The review recovered a guest's card in about a hundred test-runs; these tests replay
//! that attack and its variants and expect zero information.

use palisade_store::permissions::Permission;
use palisade_store::tokens;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::support::{Csrf, TestApp, VISITOR, owner_of};

const CARD: &str = "4242424242424242";

/// A store token with the firewall permission, as a script of the merchant's would hold.
async fn firewall_token(app: &TestApp, slug: &str) -> (String, String) {
    let (s, scope, _) = owner_of(app, slug).await;
    let owner = palisade_store::tenancy::list_members(&app.db, &scope).await.unwrap().remove(0);
    let (_, secret) =
        tokens::issue_store(&app.db, &scope, owner.account_id, "probe", &[Permission::SecuritySettings], None)
            .await
            .unwrap();
    (s.id.to_string(), secret.expose_secret().to_owned())
}

/// How many of the store's recent requests a rule would have matched (the oracle the attack reads).
async fn hits(app: &TestApp, store: &str, token: &str, source: &str) -> u64 {
    let url = app.url(&format!("/api/v1/admin/stores/{store}/firewall/rules/test"));
    let res = app.client.post(url).bearer_auth(token).json(&json!({"source": source})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{source}");
    let body: Value = res.json().await.unwrap();
    body["hits"].as_u64().unwrap()
}

#[tokio::test]
async fn test_runs_over_checkout_traffic_reveal_nothing_a_buyer_typed() {
    let app = TestApp::start().await;
    let (store, token) = firewall_token(&app, "tea").await;
    // A guest pays on the HTML checkout and an app orders through the JSON API; neither needs to succeed for the
    // request to have been seen by the firewall.
    let form = [
        ("email", "guest@buyer.example"),
        ("name", "Guest Buyer"),
        ("line1", "1 Harbour Road"),
        ("postcode", "018956"),
        ("card_number", "4242 4242 4242 4242"),
        ("expiry", "12/30"),
        ("cvc", "737"),
    ];
    app.client.post(app.url("/checkout/tea")).csrf(&app, VISITOR).form(&form).send().await.unwrap();
    let order = json!({"email": "api@buyer.example", "address": {"name": "A", "line1": "9 Canal Street"},
        "lines": [], "card": {"number": CARD, "expiry": "11/31", "cvc": "737"}});
    app.client.post(app.url("/api/v1/stores/tea/orders")).json(&order).send().await.unwrap();
    // A card pasted into the search box of the store's own pages, where values are otherwise readable.
    app.get(&format!("/s/tea?q={CARD}")).await;
    app.get("/s/tea?q=oolong").await;

    // The control: rules do see the store's traffic and its ordinary values.
    assert!(hits(&app, &store, &token, "log if path starts_with \"/checkout/tea\"").await >= 1);
    assert_eq!(hits(&app, &store, &token, "log if arg \"q\" = \"oolong\"").await, 1);
    assert!(hits(&app, &store, &token, "log if arg \"card_number\" = \"\"").await >= 1, "names stay");
    // The attack: every guess about a value reads zero.
    for source in [
        "log if arg \"card_number\" starts_with \"4\"",
        "log if arg \"card_number\" contains \"4242\"",
        "log if arg \"cvc\" = \"737\"",
        "log if arg \"expiry\" starts_with \"12\"",
        "log if arg \"email\" contains \"@\"",
        "log if arg \"line1\" contains \"Harbour\"",
        "log if arg \"postcode\" = \"018956\"",
        "log if arg \".card.number\" starts_with \"4\"",
        "log if arg \".card.cvc\" = \"737\"",
        "log if arg \".email\" contains \"buyer\"",
        "log if arg \".address.line1\" contains \"Canal\"",
        "log if arg \"q\" contains \"4242\"",
        "log if query contains \"4242\"",
        "log if query matches \"[0-9]{6}\"",
        "log if header \"cookie\" contains \"palisade\"",
    ] {
        assert_eq!(hits(&app, &store, &token, source).await, 0, "{source} must read nothing");
    }
}

#[tokio::test]
async fn live_rules_cannot_read_card_data_or_cookies_either() {
    let app = TestApp::start().await;
    let (s, scope, _) = owner_of(&app, "tea").await;
    for source in [
        "block if arg \"cvc\" = \"737\"",
        "block if arg \".card.number\" starts_with \"4\"",
        "block if header \"cookie\" contains \"palisade_cart\"",
    ] {
        palisade_store::firewall::add_rule(&app.db, &scope, source).await.unwrap();
    }
    for rule in palisade_store::firewall::rules(&app.db, &scope).await.unwrap() {
        palisade_store::firewall::change_rule(&app.db, &scope, &rule.id, palisade_store::firewall::RuleChange::Enable)
            .await
            .unwrap();
    }
    let paid =
        app.client.post(app.url("/checkout/tea")).csrf(&app, VISITOR).form(&[("cvc", "737")]).send().await.unwrap();
    assert_ne!(paid.status(), StatusCode::FORBIDDEN, "a rule over the CVC never fires");
    let order = json!({"card": {"number": CARD}});
    let api = app.client.post(app.url("/api/v1/stores/tea/orders")).json(&order).send().await.unwrap();
    assert_ne!(api.status(), StatusCode::FORBIDDEN, "nor one over the card number");
    let page = app.client.get(app.url("/s/tea")).header("cookie", "palisade_cart=x").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "nor one over cookies");
    let _ = s;
}

#[tokio::test]
async fn firewall_events_never_quote_card_numbers_or_personal_fields() {
    let app = TestApp::start().await;
    owner_of(&app, "tea").await;
    // Attacks in a payment field and next to a card number in an ordinary field: blocked and recorded …
    let in_card = [("card_number", "4242424242424242' OR 1=1--"), ("name", "<script>alert(1)</script>")];
    let r = app.client.post(app.url("/checkout/tea")).csrf(&app, VISITOR).form(&in_card).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let beside = format!("/s/tea?q=<script>alert(document.cookie)</script>+{CARD}");
    assert_eq!(app.get(&beside).await.status(), StatusCode::FORBIDDEN);
    let in_path = format!("/s/tea/p/{CARD}/..%2f..%2fetc%2fpasswd");
    app.get(&in_path).await;
    // … and what was recorded quotes none of it.
    let mut events = Vec::new();
    for _ in 0..50 {
        events = sqlx::query_as::<_, (String, String)>("SELECT path, findings FROM shield_events")
            .fetch_all(app.db.pool())
            .await
            .unwrap();
        if events.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(events.len() >= 2, "{events:?}");
    for (path, findings) in &events {
        let digits: String = findings.chars().filter(char::is_ascii_digit).collect();
        assert!(!path.contains(CARD) && !findings.contains(CARD) && !digits.contains(CARD), "{path} {findings}");
        assert!(!findings.contains("alert(1)"), "a personal field (name) is not quoted: {findings}");
    }
}

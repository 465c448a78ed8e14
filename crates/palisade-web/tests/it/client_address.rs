//! One client address for everything that counts or records clients: behind a trusted proxy each client has its
//! own sign-in and sign-up counters, session address, new-device check and token-use audit; from anyone else a
//! forwarded address is ignored.

use palisade_store::permissions::Permission;
use palisade_store::scope::StoreScope;
use palisade_store::tenancy;
use palisade_web::WebConfig;

use crate::support::{Csrf, PW, TestApp, VISITOR, buyer, owner_of};

async fn person(app: &TestApp, email: &str) {
    buyer(email).named("Pat").create(app).await;
}

async fn sign_in_from(app: &TestApp, forwarded: &str, email: &str, password: &str) -> reqwest::StatusCode {
    app.client
        .post(app.url("/login"))
        .header("x-forwarded-for", forwarded)
        .csrf(app, VISITOR)
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap()
        .status()
}

async fn throttle_keys(app: &TestApp) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT key, failures FROM login_throttle ORDER BY key").fetch_all(app.db.pool()).await.unwrap()
}

fn behind_proxy() -> WebConfig {
    let mut config = WebConfig::default();
    config.limits.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap()];
    config
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_counts_for_itself() {
    let app = TestApp::start_with(behind_proxy(), |r, _| r).await;
    person(&app, "pat@example.com").await;
    for from in ["203.0.113.1", "203.0.113.1", "203.0.113.2"] {
        assert_eq!(sign_in_from(&app, from, "pat@example.com", "not the password").await, 401);
    }
    let keys = throttle_keys(&app).await;
    assert!(keys.contains(&("ip:203.0.113.1".into(), 2)), "{keys:?}");
    assert!(keys.contains(&("ip:203.0.113.2".into(), 1)), "{keys:?}");
    assert!(!keys.iter().any(|(k, _)| k == "ip:127.0.0.1"), "the proxy is not the client: {keys:?}");

    // The session records the client, and a sign-in from another network is a new device.
    assert_eq!(sign_in_from(&app, "198.51.100.7", "pat@example.com", PW).await, 303);
    let (ip,): (Option<String>,) = sqlx::query_as("SELECT ip FROM sessions ORDER BY created_at DESC LIMIT 1")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(ip.as_deref(), Some("198.51.100.7"));
    assert_eq!(sign_in_from(&app, "192.0.2.50", "pat@example.com", PW).await, 303);
    let mails = palisade_store::outbox::to_address(&app.db, "pat@example.com").await.unwrap();
    assert!(
        mails.iter().any(|m| m.subject.contains("New sign-in") && m.body.contains("192.0.2.50")),
        "new-device alert for the client's network: {mails:?}"
    );

    // Sign-up throttling counts the client too.
    let res = app
        .client
        .post(app.url("/register"))
        .header("x-forwarded-for", "198.51.100.77")
        .csrf(&app, VISITOR)
        .form(&[("name", "Bea"), ("email", "bea@example.com"), ("password", "tulip kettle")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(throttle_keys(&app).await.iter().any(|(k, _)| k == "signup-ip:198.51.100.77"));

    // A store token's use is audited with the client's address.
    let (s, scope, _) = owner_of(&app, "alpha").await;
    let owner = tenancy::list_members(&app.db, &scope).await.unwrap()[0].account_id;
    let (_, secret) = palisade_store::tokens::issue_store(
        &app.db,
        &StoreScope::system(s.id, "test"),
        owner,
        "sync",
        &[Permission::Products],
        None,
    )
    .await
    .unwrap();
    let res = app
        .client
        .get(app.url(&format!("/api/v1/admin/stores/{}/security/controls", s.id)))
        .bearer_auth(palisade_store::tokens::reveal(&secret))
        .header("x-forwarded-for", "198.51.100.99")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let events = palisade_store::audit::list_store(&app.db, &scope, 50).await.unwrap();
    let used = events.iter().find(|e| e.action == "api_token.used").unwrap();
    assert!(used.details.contains("198.51.100.99"), "{}", used.details);
    let listed = palisade_store::tokens::list_store(&app.db, &scope).await.unwrap();
    assert_eq!(listed[0].last_used_ip.as_deref(), Some("198.51.100.99"));
}

#[tokio::test]
async fn from_an_untrusted_peer_a_forwarded_address_is_ignored() {
    let app = TestApp::start().await;
    person(&app, "pat@example.com").await;
    assert_eq!(sign_in_from(&app, "203.0.113.1", "pat@example.com", "not the password").await, 401);
    let keys = throttle_keys(&app).await;
    assert!(keys.iter().any(|(k, _)| k == "ip:127.0.0.1"), "{keys:?}");
    assert!(!keys.iter().any(|(k, _)| k.contains("203.0.113.1")), "a client cannot pick its counter: {keys:?}");
}

//! Security settings that cannot be read deny, visibly (a clear 503 and code), instead of reading as "none" or
//! "the platform's": the admin allow-list, the store's firewall mode and paranoia, its enabled rules, and the
//! platform's attack-mode switch.

use palisade_store::StoreError;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, owner_of, store};

async fn corrupt(app: &TestApp, store: &palisade_store::tenancy::Store, column: &str, value: &str) {
    sqlx::query(
        "INSERT INTO store_firewall (store_id, admin_allowlist, updated_at) VALUES ($1, '[]', 0) \
         ON CONFLICT (store_id) DO NOTHING",
    )
    .bind(store.id.to_string())
    .execute(app.db.pool())
    .await
    .unwrap();
    let sql = format!("UPDATE store_firewall SET {column} = {value} WHERE store_id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(store.id.to_string()).execute(app.db.pool()).await.unwrap();
}

async fn api_code(res: reqwest::Response) -> (StatusCode, String) {
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn an_unreadable_admin_allow_list_closes_the_admin() {
    let app = TestApp::start().await;
    let (a, _, a_cookie) = owner_of(&app, "alpha").await;
    let (b, _, b_cookie) = owner_of(&app, "bravo").await;
    let controls = |s: &palisade_store::tenancy::Store, cookie: &str| {
        app.client
            .get(app.url(&format!("/api/v1/admin/stores/{}/security/controls", s.id)))
            .header("cookie", cookie)
            .send()
    };
    // Not JSON: used to read as "no allow-list" (any address).
    corrupt(&app, &a, "admin_allowlist", "'not json'").await;
    let (status, code) = api_code(controls(&a, &a_cookie).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "security_setting_unreadable"));
    // JSON, but an entry that is no network: refused with the same clear answer, not a bare 403.
    corrupt(&app, &b, "admin_allowlist", r#"'["10.0.0.0/8", "bogus"]'"#).await;
    let (status, code) = api_code(controls(&b, &b_cookie).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "security_setting_unreadable"));
    let page = app
        .client
        .get(app.url(&format!("/admin/stores/{}/security", b.id)))
        .header("cookie", &b_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.text().await.unwrap().contains("cannot be read"));
}

#[tokio::test]
async fn an_unreadable_store_firewall_closes_the_store() {
    let app = TestApp::start().await;
    // (The mode and paranoia columns have CHECK constraints; `firewall`'s own unit test covers them.)
    for (slug, column, value) in [("list", "admin_allowlist", "'{'"), ("list2", "admin_allowlist", "'[1, 2]'")] {
        let s = store(&app.db, slug, None).await;
        corrupt(&app, &s, column, value).await;
        let res = app.get(&format!("/s/{slug}")).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{column} = {value}");
        assert!(res.text().await.unwrap().contains("security settings cannot be read"));
        let (status, code) = api_code(app.get(&format!("/api/v1/stores/{slug}/products")).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "security_setting_unreadable"));
    }
    // An enabled rule that no longer parses could be a `block`: not skipped.
    let s = store(&app.db, "rules", None).await;
    sqlx::query("INSERT INTO store_rules (id, store_id, position, source, enabled, created_at) VALUES ('r1', $1, 1, 'block if ((', 1, 0)")
        .bind(s.id.to_string())
        .execute(app.db.pool())
        .await
        .unwrap();
    assert_eq!(app.get("/s/rules").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    // A healthy store beside them is served.
    store(&app.db, "fine", None).await;
    assert_eq!(app.get("/s/fine").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unreadable_setting_can_be_replaced_but_not_carried_over() {
    let app = TestApp::start().await;
    let s = store(&app.db, "alpha", None).await;
    let scope = palisade_store::StaffScope::system(s.id, "test");
    corrupt(&app, &s, "admin_allowlist", "'not json'").await;
    assert!(matches!(palisade_store::firewall::get(&app.db, &scope).await, Err(StoreError::Corrupt(_))));
    // Another change would write the unreadable list back as "none": refused.
    let other = palisade_store::firewall::set_attack_mode(&app.db, &scope, None).await;
    assert!(matches!(other, Err(StoreError::Corrupt(_))), "{other:?}");
    assert!(matches!(palisade_store::firewall::get(&app.db, &scope).await, Err(StoreError::Corrupt(_))));
    // Replacing the list itself repairs it.
    palisade_store::firewall::set_allowlist(&app.db, &scope, vec!["10.0.0.0/8".into()]).await.unwrap();
    assert_eq!(palisade_store::firewall::get(&app.db, &scope).await.unwrap().admin_allowlist, vec!["10.0.0.0/8"]);
}

#[tokio::test]
async fn an_unreadable_platform_attack_switch_reads_as_on() {
    let app = TestApp::start().await;
    store(&app.db, "tea", None).await;
    assert_eq!(app.get("/s/tea").await.status(), StatusCode::OK);
    let app = TestApp::start().await;
    store(&app.db, "tea", None).await;
    sqlx::query(
        "INSERT INTO platform_settings (key, value, updated_at) VALUES ('shield.attack_mode_until', 'garbage', 0)",
    )
    .execute(app.db.pool())
    .await
    .unwrap();
    let page = app.get("/s/tea").await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.text().await.unwrap().contains("under heavy load"));
}

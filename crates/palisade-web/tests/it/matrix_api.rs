use serde_json::Value;

use crate::support::{TestApp, store};

#[tokio::test]
async fn matrix_endpoints_refuse_requests_without_a_valid_operator_token() {
    let app = TestApp::start().await;
    let s = store(&app.db, "alpha", None).await;
    for path in [
        "/api/v1/platform/security/controls".to_owned(),
        format!("/api/v1/stores/{}/security/controls", s.id),
        "/api/v1/stores".into(),
    ] {
        let res = app.get(&path).await;
        assert_eq!(res.status(), 401, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthenticated");
        let res = app.client.get(app.url(&path)).bearer_auth("pal_op_0000").send().await.unwrap();
        assert_eq!(res.status(), 401, "{path} with a wrong token");
    }
}

#[tokio::test]
async fn the_platform_matrix_lists_all_eight_areas_with_live_status() {
    let app = TestApp::start().await;
    let res = app.get_authed("/api/v1/platform/security/controls").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["subject"], "platform");
    let areas = body["areas"].as_array().unwrap();
    assert_eq!(areas.len(), 8);
    let ids: Vec<&str> = areas
        .iter()
        .flat_map(|a| a["platform"].as_array().unwrap())
        .map(|r| r["control"]["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"platform.master-key-private"));
    assert!(ids.contains(&"platform.audit-chain-intact"));
    let key = areas
        .iter()
        .flat_map(|a| a["platform"].as_array().unwrap())
        .find(|r| r["control"]["id"] == "platform.master-key-private")
        .unwrap();
    assert_eq!(key["status"]["state"], "met");
}

#[tokio::test]
async fn a_store_matrix_reflects_that_store_only_by_id_or_slug() {
    let app = TestApp::start().await;
    let with_contact = store(&app.db, "alpha", Some("dpo@alpha.example")).await;
    store(&app.db, "bravo", None).await;
    let contact_state = |body: &Value| {
        body["areas"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|a| a["merchant"].as_array().unwrap())
            .find(|r| r["control"]["id"] == "store.security-contact")
            .map(|r| r["status"]["state"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let a: Value =
        app.get_authed(&format!("/api/v1/stores/{}/security/controls", with_contact.id)).await.json().await.unwrap();
    assert_eq!(a["subject"], with_contact.id.to_string());
    assert_eq!(contact_state(&a), "met");
    let b: Value = app.get_authed("/api/v1/stores/bravo/security/controls").await.json().await.unwrap();
    assert_eq!(contact_state(&b), "unmet");
    assert!(b["unmet"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn unknown_stores_are_a_clean_404() {
    let app = TestApp::start().await;
    for path in [
        "/api/v1/stores/no-such-store/security/controls",
        "/api/v1/stores/0190a0a0-0000-7000-8000-000000000000/security/controls",
    ] {
        let res = app.get_authed(path).await;
        assert_eq!(res.status(), 404, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found");
    }
}

#[tokio::test]
async fn store_audit_lists_only_that_store() {
    let app = TestApp::start().await;
    let a = store(&app.db, "alpha", None).await;
    store(&app.db, "bravo", None).await;
    let events: Value = app.get_authed(&format!("/api/v1/stores/{}/audit", a.id)).await.json().await.unwrap();
    let events = events.as_array().unwrap();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["store_id"] == a.id.to_string()));
}

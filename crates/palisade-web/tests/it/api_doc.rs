//! `/api/openapi.json` is built from the same declarations as the `/api` router: every documented operation is
//! routed, every operation says who may call it, and that is what the server enforces.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::TestApp;

/// Every (method, path template, x-permission) in the served document.
async fn operations(app: &TestApp) -> Vec<(String, String, String)> {
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["components"]["schemas"]["Error"].is_object(), "the error envelope is a shared schema");
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let permission = op["x-permission"].as_str().unwrap_or_else(|| panic!("{method} {path}: no x-permission"));
            for segment in path.split('/').filter(|s| s.starts_with('{')) {
                let name = segment.trim_matches(['{', '}']);
                let declared = op["parameters"].as_array().is_some_and(|ps| {
                    ps.iter().any(|p| p["in"] == "path" && p["name"] == name && p["required"] == true)
                });
                assert!(declared, "{method} {path}: path parameter {name} declared");
            }
            assert!(
                op["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"
            );
            ops.push((method.to_uppercase(), path.clone(), permission.to_owned()));
        }
    }
    ops
}

fn request(app: &TestApp, method: &str, template: &str) -> reqwest::RequestBuilder {
    let path = template.replace(['{', '}'], "");
    app.client
        .request(method.parse().unwrap(), app.url(&path))
        .header("content-type", "application/json")
        .body(if method == "GET" || method == "DELETE" { "" } else { "{}" })
}

/// Every documented operation is answered by a handler (not the 404 fallback nor a 405), and the auth, MFA,
/// passkey, session, operator and store-admin routes are all in the document.
#[tokio::test]
async fn every_documented_operation_is_routed_and_every_json_route_is_documented() {
    let app = TestApp::start().await;
    let ops = operations(&app).await;
    for (method, path, _) in &ops {
        let res = request(&app, method, path).send().await.unwrap();
        assert_ne!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is routed");
        if res.status() == StatusCode::NOT_FOUND {
            let body: Value = res.json().await.unwrap_or(Value::Null);
            assert_ne!(body["error"]["message"], "no such endpoint", "{method} {path} is routed");
        }
    }
    for expected in [
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/verify"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/me"),
        ("POST", "/api/v1/auth/totp/confirm"),
        ("POST", "/api/v1/auth/passkeys/login/finish"),
        ("GET", "/api/v1/platform/audit"),
        ("GET", "/api/v1/admin/stores/{store}/staff"),
        ("POST", "/api/v1/admin/stores/{store}/firewall/rules/{rule}/enable"),
        ("POST", "/api/v1/stores/{store}/orders"),
    ] {
        assert!(ops.iter().any(|(m, p, _)| (m.as_str(), p.as_str()) == expected), "{expected:?} is documented");
    }
    assert!(ops.len() >= 50, "{} operations", ops.len());
}

/// Every operation declares who may call it with a known value, and a caller without credentials gets exactly
/// what that declaration says: 401 unless it is public.
#[tokio::test]
async fn every_operation_declares_its_permission_and_anonymous_callers_get_what_it_says() {
    let app = TestApp::start().await;
    let mut public = 0;
    for (method, path, permission) in operations(&app).await {
        let store_level = ["member", "app"].contains(&permission.as_str())
            || palisade_store::permissions::Permission::parse(&permission).is_some();
        let known = store_level || ["public", "session", "signed-in", "operator"].contains(&permission.as_str());
        assert!(known, "{method} {path}: x-permission `{permission}` is a level or a permission key");
        assert!(!store_level || path.contains("/stores/{store}"), "{method} {path}: store permission, no store");
        let res = request(&app, &method, &path).send().await.unwrap();
        if permission == "public" {
            assert_ne!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path} is public");
            public += 1;
        } else {
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path} needs {permission}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthenticated", "{method} {path}");
        }
    }
    assert!((5..10).contains(&public), "only the catalog, checkout, sign-in and the document are public ({public})");
}

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use palisade_web::WebConfig;
use serde_json::Value;

use crate::support::TestApp;
use crate::support::{Csrf as _, VISITOR};

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::start().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn readiness_fails_fast_when_the_database_is_gone() {
    let app = TestApp::start().await;
    app.db.db.close().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_ready");
    assert_eq!(app.get("/healthz").await.status(), 200, "liveness does not depend on the database");
}

#[tokio::test]
async fn every_response_carries_security_headers_and_a_strict_policy() {
    let app = TestApp::start().await;
    let a = app.get("/console/login").await;
    let b = app.get("/console/login").await;
    let csp = |r: &reqwest::Response| r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let (csp_a, csp_b) = (csp(&a), csp(&b));
    assert!(csp_a.contains("frame-ancestors 'none'"));
    assert!(csp_a.contains("default-src 'none'"));
    assert_eq!(csp_a, csp_b);
    // Scripts and styles from the platform's own files only: nothing inline runs, nothing from elsewhere loads.
    for directive in ["script-src 'self';", "style-src 'self';", "base-uri 'none'", "form-action 'self'"] {
        assert!(csp_a.contains(directive), "{directive}: {csp_a}");
    }
    assert!(!csp_a.contains("unsafe") && !csp_a.contains("nonce") && !csp_a.contains('*'), "{csp_a}");
    assert_eq!(a.headers()["x-content-type-options"], "nosniff");
    assert_eq!(a.headers()["referrer-policy"], "same-origin");
    assert!(a.headers().get("x-request-id").is_some());
    assert!(a.headers().get("strict-transport-security").is_none(), "no HSTS without TLS");
    let api = app.get("/api/v1/stores").await;
    assert!(api.headers().get("content-security-policy").is_some());
}

#[tokio::test]
async fn hsts_is_sent_behind_tls() {
    let app = TestApp::start_with(WebConfig { behind_tls: true, ..WebConfig::default() }, |r, _| r).await;
    let res = app.get("/healthz").await;
    assert!(res.headers()["strict-transport-security"].to_str().unwrap().contains("max-age="));
}

#[tokio::test]
async fn request_ids_are_propagated_or_generated() {
    let app = TestApp::start().await;
    let res = app.client.get(app.url("/healthz")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn not_found_is_json_for_the_api_and_html_for_people() {
    let app = TestApp::start().await;
    let api = app.get("/api/v1/nothing-here").await;
    assert_eq!(api.status(), 404);
    assert_eq!(api.json::<Value>().await.unwrap()["error"]["code"], "not_found");
    let page = app.get("/nothing-here").await;
    assert_eq!(page.status(), 404);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("404"));
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let app = TestApp::start().await;
    app.get("/healthz").await;
    let text = app.get_authed("/metrics").await.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("route=\"/healthz\""));
    assert!(text.contains("http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn cross_site_form_posts_are_refused() {
    let app = TestApp::start().await;
    let res = app
        .client
        .post(app.url("/console/login"))
        .csrf(&app, VISITOR)
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://evil.example")
        .form(&[("token", app.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("set-cookie").is_none());
    let same = app
        .client
        .post(app.url("/console/login"))
        .csrf(&app, VISITOR)
        .header("sec-fetch-site", "same-origin")
        .form(&[("token", app.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 303);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = TestApp::start_with(WebConfig { max_body_bytes: 4096, ..WebConfig::default() }, |r, _| r).await;
    let big = format!("token={}", "a".repeat(10_000));
    let res = app
        .client
        .post(app.url("/console/login"))
        .csrf(&app, VISITOR)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
}

async fn boom() -> &'static str {
    panic!("secret panic detail")
}

fn with_test_routes(config: WebConfig) -> impl FnOnce(Router, &palisade_web::AppState) -> Router {
    let _ = config;
    |router, state| {
        let extra: Router<palisade_web::AppState> = Router::new()
            .route("/api/test/panic", get(boom))
            .route("/test/panic", get(boom))
            .route(
                "/api/test/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    "finished"
                }),
            )
            .route("/api/test/echo", post(|body: String| async move { body }));
        router.merge(palisade_web::http::layers::apply(extra, state).with_state(state.clone()))
    }
}

#[tokio::test]
async fn a_panic_becomes_a_generic_500_without_its_message() {
    let app = TestApp::start_with(WebConfig::default(), with_test_routes(WebConfig::default())).await;
    let api = app.get("/api/test/panic").await;
    assert_eq!(api.status(), 500);
    let body = api.text().await.unwrap();
    assert!(!body.contains("secret"), "{body}");
    assert!(body.contains("\"code\":\"internal\""));
    let page = app.get("/test/panic").await;
    assert_eq!(page.status(), 500);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(!page.text().await.unwrap().contains("secret"));
    assert_eq!(app.get("/healthz").await.status(), 200, "the server survives");
}

#[tokio::test]
async fn slow_requests_time_out_with_a_clear_error() {
    let cfg = WebConfig { request_timeout: Duration::from_millis(100), ..WebConfig::default() };
    let app = TestApp::start_with(cfg, with_test_routes(WebConfig::default())).await;
    let res = app.get("/api/test/slow").await;
    assert_eq!(res.status(), 408);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "timeout");
}

#[tokio::test]
async fn graceful_shutdown_lets_in_flight_requests_finish() {
    let mut app = TestApp::start_with(WebConfig::default(), with_test_routes(WebConfig::default())).await;
    let client = app.client.clone();
    let url = app.url("/api/test/slow");
    let in_flight = tokio::spawn(async move { client.get(url).send().await.unwrap() });
    tokio::time::sleep(Duration::from_millis(150)).await;
    app.shutdown();
    let res = in_flight.await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "finished");
    let server = app.server.take().unwrap();
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("server stops after draining").unwrap().unwrap();
    assert!(app.client.get(app.url("/healthz")).send().await.is_err(), "no new connections after shutdown");
}

/// Error pages wear the look of where the visitor is: a buyer who hits a missing product or a firewall block stays
/// in the shop's look with a way back to that shop; store staff and operators get the console's look and links.
#[tokio::test]
async fn error_pages_lead_buyers_back_to_the_shop_and_staff_back_to_their_pages() {
    let app = TestApp::start().await;
    crate::support::store(&app.db, "tea", None).await;
    let missing = app.get("/s/tea/p/no-such-tea").await;
    assert_eq!(missing.status(), 404);
    let html = missing.text().await.unwrap();
    assert!(html.contains("/theme/default/theme.css") && html.contains("href=\"/s/tea\""), "{html}");
    assert!(!html.to_lowercase().contains("console"), "{html}");

    let blocked = app.get("/s/tea?q=%27%20UNION%20SELECT%20password%20FROM%20accounts--").await;
    assert_eq!(blocked.status(), 403);
    let html = blocked.text().await.unwrap();
    assert!(html.contains("Reference:") && html.contains("href=\"/s/tea\""), "{html}");

    let nowhere = app.get("/no/such/page").await;
    assert_eq!(nowhere.status(), 404);
    assert!(nowhere.text().await.unwrap().contains("Back to the marketplace"));

    let console = app.get("/console/no-such-page").await;
    let html = console.text().await.unwrap();
    assert!(html.contains("/assets/console.css") && html.contains("Back to the console"), "{html}");
}

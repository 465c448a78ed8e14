//! Every `/api` answer that is not a success uses the one error envelope, whoever produced it (handlers,
//! extractors, the router, the layers); `/metrics` is for operators (and a listener of its own).

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::TestApp;

async fn refusal(res: reqwest::Response) -> (StatusCode, String) {
    let status = res.status();
    let ctype = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = res.text().await.unwrap();
    assert!(!status.is_success(), "{status}: {text}");
    assert!(ctype.starts_with("application/json"), "{status} came as {ctype:?}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: {e}: {text}"));
    let code = body["error"]["code"].as_str().unwrap_or_else(|| panic!("no code: {text}")).to_owned();
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{text}");
    (status, code)
}

#[tokio::test]
async fn every_api_refusal_carries_the_error_envelope() {
    let app = TestApp::start().await;
    let c = &app.client;
    let cases = [
        (c.get(app.url("/api/v1/search?q=tea&page=two")), StatusCode::BAD_REQUEST),
        (c.get(app.url("/api/v1/platform/audit?limit=lots")).bearer_auth(&app.token), StatusCode::BAD_REQUEST),
        (c.delete(app.url("/api/v1/search")), StatusCode::METHOD_NOT_ALLOWED),
        (c.get(app.url("/api/v1/no-such-thing")), StatusCode::NOT_FOUND),
        (c.post(app.url("/api/v1/auth/login")).body("email=a&password=b"), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            c.post(app.url("/api/v1/auth/login")).header("content-type", "application/json").body("{\"email\":"),
            StatusCode::BAD_REQUEST,
        ),
        (c.get(app.url("/api/v1/me")), StatusCode::UNAUTHORIZED),
        (c.get(app.url("/api/v1/stores")).bearer_auth("pal_op_forged"), StatusCode::UNAUTHORIZED),
    ];
    for (req, expected) in cases {
        let (status, code) = refusal(req.send().await.unwrap()).await;
        assert_eq!(status, expected, "{code}");
    }
    let not_allowed = c.delete(app.url("/api/v1/search")).send().await.unwrap();
    assert!(not_allowed.headers().get("allow").is_some(), "a 405 still says what is allowed");
}

#[tokio::test]
async fn metrics_need_an_operator_on_the_public_listener() {
    let app = TestApp::start().await;
    let (status, code) = refusal(app.get("/metrics").await).await;
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let forged = app.client.get(app.url("/metrics")).bearer_auth("pal_op_forged").send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let ok = app.get_authed("/metrics").await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.text().await.unwrap().contains("# TYPE"), "the exposition");
}

//! Rate limits on the real router: 429 with Retry-After once a client's burst is spent, per class; and two
//! nodes sharing one Redis share the limit (Redis runs on 127.0.0.1:6379 here and in CI).

use palisade_shield::gcra::Rate;
use palisade_web::WebConfig;
use palisade_web::http::limits::{Limiter, LimitsConfig};
use reqwest::StatusCode;

use crate::support::TestApp;

fn tight(prefix: &str, redis: Option<&str>) -> LimitsConfig {
    LimitsConfig {
        search: Rate { per_minute: 60, burst: 3 },
        redis_url: redis.map(str::to_owned),
        key_prefix: prefix.to_owned(),
        ..LimitsConfig::default()
    }
}

#[tokio::test]
async fn a_client_over_its_burst_gets_429_with_retry_after_and_other_classes_still_work() {
    let app = TestApp::start_with(WebConfig { limits: tight("t1", None), ..WebConfig::default() }, |r, _| r).await;
    for _ in 0..3 {
        assert_eq!(app.get("/search?q=tea").await.status(), StatusCode::OK);
    }
    let refused = app.get("/search?q=tea").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "1");
    let api = app.get("/api/v1/search?q=tea").await;
    assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS, "the API search is the same class");
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(app.get("/").await.status(), StatusCode::OK, "pages have their own budget");
}

#[tokio::test]
async fn two_nodes_sharing_redis_share_one_limit() {
    let prefix = format!("test-{}", uuid::Uuid::now_v7());
    let cfg = tight(&prefix, Some("redis://127.0.0.1:6379"));
    let a = TestApp::start_with(WebConfig { limits: cfg.clone(), ..WebConfig::default() }, |r, _| r).await;
    let b = TestApp::start_with(WebConfig { limits: cfg.clone(), ..WebConfig::default() }, |r, _| r).await;
    // Six searches alternating between the two nodes: the shared burst of 3 lets exactly 3 through.
    let mut statuses = Vec::new();
    for i in 0..6 {
        let node = if i % 2 == 0 { &a } else { &b };
        statuses.push(node.get("/search?q=tea").await.status());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 3, "{statuses:?}");
    // Without Redis each node keeps its own count: 3 each.
    let lone = tight(&prefix, None);
    let (la, lb) = (Limiter::local(lone.clone()), Limiter::local(lone.clone()));
    let mut allowed = 0;
    for i in 0..6 {
        let l = if i % 2 == 0 { &la } else { &lb };
        allowed +=
            usize::from(l.check("ip:192.0.2.1:search", lone.search, 0).await == palisade_shield::gcra::Decision::Allow);
    }
    assert_eq!(allowed, 6);
}

//! Ids in paths are parsed at the edge: a segment that is not an id is 404 in the site's own format (the JSON
//! envelope under /api, the error page elsewhere), never axum's plain-text rejection.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Csrf as _, TestApp, order_request, owner_of};

/// A 404 in the API's envelope (`not_found`); `what` names the case in the failure message.
async fn assert_not_found_envelope(res: reqwest::Response, what: &str) {
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "{what}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{what}: {body}");
}

/// A 404 as the site's HTML error page; `what` names the case in the failure message.
fn assert_not_found_page(res: &reqwest::Response, what: &str) {
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "{what}");
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/html"), "{what}: {ct}");
}

#[tokio::test]
async fn a_dispute_path_that_is_not_an_id_is_404_in_the_sites_own_format() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    for id in ["not-a-uuid", "12345", &palisade_core::DisputeId::new().to_string()] {
        let api = app
            .client
            .post(app.url(&format!("/api/v1/admin/stores/{}/disputes/{id}/respond", s.id)))
            .header("cookie", &cookie)
            .json(&json!({"response": "We shipped it."}))
            .send()
            .await
            .unwrap();
        assert_not_found_envelope(api, id).await;

        let page = app
            .client
            .post(app.url(&format!("/admin/stores/{}/disputes/{id}/respond", s.id)))
            .csrf(&app, &cookie)
            .form(&[("response", "We shipped it.")])
            .send()
            .await
            .unwrap();
        assert_not_found_page(&page, id);
    }
}

#[tokio::test]
async fn an_image_path_that_is_not_an_id_is_404_for_shoppers_and_staff() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    for id in ["not-a-uuid", "12345", &palisade_core::ImageId::new().to_string()] {
        let media = app.get(&format!("/media/alpha/{id}")).await;
        assert_eq!(media.status(), StatusCode::NOT_FOUND, "{id}");
        assert!(media.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{id}");
        let remove = app
            .client
            .post(app.url(&format!("/admin/stores/{}/images/{id}/remove", s.id)))
            .csrf(&app, &cookie)
            .form(&[("x", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(remove.status(), StatusCode::NOT_FOUND, "{id}");
    }
}

#[tokio::test]
async fn an_order_path_that_is_not_an_id_is_404_in_the_sites_own_format() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    for id in ["not-a-uuid", "12345", &palisade_core::OrderId::new().to_string()] {
        let api = app
            .client
            .get(app.url(&format!("/api/v1/admin/stores/{}/orders/{id}", s.id)))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_not_found_envelope(api, id).await;

        let ship = app
            .client
            .post(app.url(&format!("/api/v1/admin/stores/{}/orders/{id}/ship", s.id)))
            .header("cookie", &cookie)
            .json(&json!({"tracking_no": "SG1"}))
            .send()
            .await
            .unwrap();
        assert_not_found_envelope(ship, id).await;

        let page = app
            .client
            .get(app.url(&format!("/admin/stores/{}/orders/{id}", s.id)))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_not_found_page(&page, id);

        let refund = app
            .client
            .post(app.url(&format!("/admin/stores/{}/orders/{id}/refund", s.id)))
            .csrf(&app, &cookie)
            .form(&[("amount", "1.00"), ("note", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(refund.status(), StatusCode::NOT_FOUND, "{id}");

        // The buyer's side: the order page and its actions, with or without a key.
        for path in [format!("/orders/{id}"), format!("/orders/{id}?k=00")] {
            let shopper = app.get(&path).await;
            assert_not_found_page(&shopper, &path);
        }
        let confirm = app
            .client
            .post(app.url(&format!("/orders/{id}/confirm?k=00")))
            .csrf(&app, &cookie)
            .form(&[("x", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(confirm.status(), StatusCode::NOT_FOUND, "{id}");
    }
}

/// A variant id in a JSON body is parsed with the body: one that is not an id is a 422 naming the field, not a
/// lookup (and never a 500); a well-formed id of nothing is the usual 404.
#[tokio::test]
async fn a_variant_id_in_a_json_body_that_is_not_an_id_is_422_naming_the_field() {
    let app = TestApp::start().await;
    let _ = owner_of(&app, "alpha").await;
    let body = |variant: Value| order_request(variant).json();
    for (i, bad) in [json!("not-a-uuid"), json!("12345"), json!(""), json!(42), json!(null)].into_iter().enumerate() {
        let res = app
            .client
            .post(app.url("/api/v1/stores/alpha/orders"))
            .header("idempotency-key", format!("bad-{i}"))
            .json(&body(bad.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["code"], "invalid", "{bad}: {err}");
        let message = err["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("lines[0].variant_id"), "{bad}: {message}");
    }
    let unknown = app
        .client
        .post(app.url("/api/v1/stores/alpha/orders"))
        .header("idempotency-key", "unknown")
        .json(&body(json!(palisade_core::VariantId::new().to_string())))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

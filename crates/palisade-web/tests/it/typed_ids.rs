//! Ids in paths are parsed at the edge: a segment that is not an id is 404 in the site's own format (the JSON
//! envelope under /api, the error page elsewhere), never axum's plain-text rejection.

use palisade_commerce::catalog::{self, NewProduct, NewVariant, Product, ProductStatus};
use palisade_core::money::{Currency, Money};
use palisade_core::text::Slug;
use palisade_core::{AccountId, ProductId, TokenId, VariantId};
use palisade_store::StaffScope;
use palisade_store::permissions::Permission;
use palisade_store::tenancy;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Csrf as _, TestApp, VISITOR, order_request, owner_of};

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

async fn product(app: &TestApp, scope: &StaffScope, slug: &str) -> Product {
    catalog::create_product(
        &app.db,
        scope,
        NewProduct {
            slug: Slug::parse(slug).unwrap(),
            title: format!("Item {slug}"),
            description: String::new(),
            status: ProductStatus::Published,
            category: None,
            variants: vec![NewVariant {
                sku: format!("{slug}-1"),
                options: json!({}),
                price: Money::new(1000, Currency::SGD),
                stock: 5,
            }],
        },
    )
    .await
    .unwrap()
}

/// A 10×12 PNG as far as the image check reads it (the header): enough to reach the product lookup.
fn png_header() -> Vec<u8> {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R'];
    v.extend_from_slice(&10u32.to_be_bytes());
    v.extend_from_slice(&12u32.to_be_bytes());
    v.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    v
}

/// A JSON answer: 404 `not_found` in the envelope.
async fn api_not_found(res: reqwest::Response, what: &str) {
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "{what}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{what}: {body}");
}

/// A page answer: 404 as the HTML error page.
fn page_not_found(res: &reqwest::Response, what: &str) {
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "{what}");
    let ct = res.headers()["content-type"].to_str().unwrap();
    assert!(ct.starts_with("text/html"), "{what}: {ct}");
}

/// Product paths, JSON and HTML: what is not an id, an id of nothing and an id of another store's product are all
/// the same 404 in the site's own format; the other store's product is untouched.
#[tokio::test]
async fn a_product_path_that_is_not_an_id_or_not_this_stores_is_404() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let (_, bravo, _) = owner_of(&app, "bravo").await;
    let theirs = product(&app, &bravo, "theirs").await;
    let theirs_id = theirs.id.to_string();
    let fresh = ProductId::new().to_string();
    let api = format!("/api/v1/admin/stores/{}/products", s.id);
    let html = format!("/admin/stores/{}/products", s.id);
    for id in ["not-a-uuid", "12345", fresh.as_str(), theirs_id.as_str()] {
        let get = app.client.get(app.url(&format!("{api}/{id}"))).header("cookie", &cookie).send().await.unwrap();
        api_not_found(get, &format!("GET {id}")).await;
        let status = app
            .client
            .post(app.url(&format!("{api}/{id}/status")))
            .header("cookie", &cookie)
            .json(&json!({"status": "archived"}))
            .send()
            .await
            .unwrap();
        api_not_found(status, &format!("status {id}")).await;
        let upload = app
            .client
            .post(app.url(&format!("{api}/{id}/images?alt=x")))
            .csrf(&app, &cookie)
            .header("content-type", "application/octet-stream")
            .body(png_header())
            .send()
            .await
            .unwrap();
        api_not_found(upload, &format!("image {id}")).await;

        let page = app.client.get(app.url(&format!("{html}/{id}"))).header("cookie", &cookie).send().await.unwrap();
        page_not_found(&page, &format!("page {id}"));
        let edit = app
            .client
            .post(app.url(&format!("{html}/{id}")))
            .csrf(&app, &cookie)
            .form(&[("title", "Taken"), ("description", ""), ("category", "")])
            .send()
            .await
            .unwrap();
        page_not_found(&edit, &format!("edit {id}"));
        let publish = app
            .client
            .post(app.url(&format!("{html}/{id}/status")))
            .csrf(&app, &cookie)
            .form(&[("status", "archived")])
            .send()
            .await
            .unwrap();
        page_not_found(&publish, &format!("status page {id}"));
    }
    let after = catalog::get_product(&app.db, &bravo, theirs.id).await.unwrap();
    assert_eq!((after.title.as_str(), after.status), ("Item theirs", ProductStatus::Published), "untouched");
}

/// Variant paths (stock and price, JSON and HTML): the same 404 for junk, an id of nothing and another store's
/// variant, whose stock and price stay as they were.
#[tokio::test]
async fn a_variant_path_that_is_not_an_id_or_not_this_stores_is_404() {
    let app = TestApp::start().await;
    let (s, alpha, cookie) = owner_of(&app, "alpha").await;
    let (_, bravo, _) = owner_of(&app, "bravo").await;
    let mine = product(&app, &alpha, "mine").await;
    let theirs = product(&app, &bravo, "theirs").await;
    let theirs_id = theirs.variants[0].id.to_string();
    let fresh = VariantId::new().to_string();
    let back_to = mine.id.to_string();
    for id in ["not-a-uuid", "12345", fresh.as_str(), theirs_id.as_str()] {
        let api = format!("/api/v1/admin/stores/{}/variants/{id}", s.id);
        let stock = app
            .client
            .put(app.url(&format!("{api}/stock")))
            .header("cookie", &cookie)
            .json(&json!({"stock": 0}))
            .send()
            .await
            .unwrap();
        api_not_found(stock, &format!("stock {id}")).await;
        let price = app
            .client
            .put(app.url(&format!("{api}/price")))
            .header("cookie", &cookie)
            .json(&json!({"price_minor": 1}))
            .send()
            .await
            .unwrap();
        api_not_found(price, &format!("price {id}")).await;
        let page = app
            .client
            .post(app.url(&format!("/admin/stores/{}/variants/{id}", s.id)))
            .csrf(&app, &cookie)
            .form(&[("price", "0.01"), ("stock", "0"), ("product", back_to.as_str())])
            .send()
            .await
            .unwrap();
        page_not_found(&page, &format!("variant page {id}"));
    }
    let after = catalog::get_product(&app.db, &bravo, theirs.id).await.unwrap();
    assert_eq!((after.variants[0].stock, after.variants[0].price.minor), (5, 1000), "untouched");
}

/// The variant page's form names the product page to go back to; only an id of one goes into the redirect.
#[tokio::test]
async fn the_variant_form_redirects_only_to_a_product_id() {
    let app = TestApp::start().await;
    let (s, alpha, cookie) = owner_of(&app, "alpha").await;
    let mine = product(&app, &alpha, "mine").await;
    let path = format!("/admin/stores/{}/variants/{}", s.id, mine.variants[0].id);
    let products = format!("/admin/stores/{}/products", s.id);
    for (product, expected) in [
        (mine.id.to_string(), format!("{products}/{}?saved=variant", mine.id)),
        ("not-an-id".to_owned(), products.clone()),
        ("orders".to_owned(), products.clone()),
    ] {
        let res = app
            .client
            .post(app.url(&path))
            .csrf(&app, &cookie)
            .form(&[("stock", "4"), ("product", product.as_str())])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection(), "{product}: {}", res.status());
        assert_eq!(res.headers()["location"].to_str().unwrap(), expected, "{product}");
    }
}

/// The cart form's variant is parsed at the edge: what is not an id is a 422 naming the field (and makes no
/// cart); an id of nothing is the usual 404; neither is ever a 500.
#[tokio::test]
async fn a_cart_variant_that_is_not_an_id_is_422_and_an_unknown_one_404() {
    let app = TestApp::start().await;
    let _ = owner_of(&app, "alpha").await;
    for bad in ["not-a-uuid", "12345", "", "0193a2b4-5c6d-7e8f-9a0b"] {
        for path in ["/cart/add", "/cart/update"] {
            let res = app
                .client
                .post(app.url(path))
                .csrf(&app, VISITOR)
                .form(&[("variant_id", bad), ("quantity", "1")])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path} {bad:?}");
            assert!(res.headers().get("set-cookie").is_none_or(|c| !c.to_str().unwrap().contains("palisade_cart")));
            let body = res.text().await.unwrap();
            assert!(body.contains("variant_id"), "{path} {bad:?}: {body}");
        }
    }
    let unknown = VariantId::new().to_string();
    let res = app
        .client
        .post(app.url("/cart/add"))
        .csrf(&app, VISITOR)
        .form(&[("variant_id", unknown.as_str()), ("quantity", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

/// Staff account paths (role, grants, removal; JSON and HTML): junk, an id of nobody and a member of another store
/// are all 404, and the other store's member keeps their role.
#[tokio::test]
async fn a_staff_account_path_that_is_not_an_id_or_not_a_member_is_404() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let (_, bravo, _) = owner_of(&app, "bravo").await;
    let theirs = tenancy::list_members(&app.db, &bravo).await.unwrap().remove(0);
    let theirs_id = theirs.account_id.to_string();
    let fresh = AccountId::new().to_string();
    for id in ["not-a-uuid", "12345", fresh.as_str(), theirs_id.as_str()] {
        let api = format!("/api/v1/admin/stores/{}/staff/{id}", s.id);
        let role = app
            .client
            .put(app.url(&format!("{api}/role")))
            .header("cookie", &cookie)
            .json(&json!({"role": "staff"}))
            .send()
            .await
            .unwrap();
        api_not_found(role, &format!("role {id}")).await;
        let grants = app
            .client
            .put(app.url(&format!("{api}/permissions")))
            .header("cookie", &cookie)
            .json(&json!({"permissions": []}))
            .send()
            .await
            .unwrap();
        api_not_found(grants, &format!("permissions {id}")).await;
        let remove = app.client.delete(app.url(&api)).csrf(&app, &cookie).send().await.unwrap();
        api_not_found(remove, &format!("remove {id}")).await;

        let html = format!("/admin/stores/{}/staff/{id}", s.id);
        for (action, form) in [("role", "role=staff"), ("grants", "permission=refunds"), ("remove", "x=")] {
            let res = app
                .client
                .post(app.url(&format!("{html}/{action}")))
                .csrf(&app, &cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .unwrap();
            page_not_found(&res, &format!("{action} page {id}"));
        }
    }
    let after = tenancy::list_members(&app.db, &bravo).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].role, theirs.role, "untouched");
}

/// API token paths: junk, an id of nothing and another store's token are 404; the other store's token still works.
#[tokio::test]
async fn a_token_path_that_is_not_an_id_or_not_this_stores_is_404() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let (_, bravo, _) = owner_of(&app, "bravo").await;
    let owner = tenancy::list_members(&app.db, &bravo).await.unwrap().remove(0);
    let (theirs, _) =
        palisade_store::tokens::issue_store(&app.db, &bravo, owner.account_id, "ci", &[Permission::Products], None)
            .await
            .unwrap();
    let theirs_id = theirs.id.to_string();
    let fresh = TokenId::new().to_string();
    for id in ["not-a-uuid", "12345", fresh.as_str(), theirs_id.as_str()] {
        let api = app
            .client
            .delete(app.url(&format!("/api/v1/admin/stores/{}/tokens/{id}", s.id)))
            .csrf(&app, &cookie)
            .send()
            .await
            .unwrap();
        api_not_found(api, &format!("revoke {id}")).await;
        let page = app
            .client
            .post(app.url(&format!("/admin/stores/{}/tokens/{id}/revoke", s.id)))
            .csrf(&app, &cookie)
            .form(&[("x", "")])
            .send()
            .await
            .unwrap();
        page_not_found(&page, &format!("revoke page {id}"));
    }
    let (revoked,): (Option<i64>,) = sqlx::query_as("SELECT revoked_at FROM api_tokens WHERE id = $1")
        .bind(theirs_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(revoked, None, "bravo's token is still live");
}

/// Typed ids change no JSON: the API document still describes every id field as a string.
#[tokio::test]
async fn the_api_document_still_describes_ids_as_strings() {
    let app = TestApp::start().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    let resolve = |s: &Value| match s["$ref"].as_str() {
        Some(r) => schemas[r.trim_start_matches("#/components/schemas/")].clone(),
        None => s.clone(),
    };
    for (schema, field) in
        [("Product", "id"), ("Variant", "id"), ("ProductCard", "id"), ("Image", "product_id"), ("Order", "id")]
    {
        let property = &schemas[schema]["properties"][field];
        assert!(property.is_object(), "{schema}.{field} is documented: {}", schemas[schema]);
        assert_eq!(resolve(property)["type"], "string", "{schema}.{field}: {property}");
    }
}

//! The commerce JSON API (`/api/v1`): public catalog and order creation, and the merchant's store admin. Every
//! endpoint is listed in [`ENDPOINTS`], from which `/api/openapi.json` is built, so the document cannot leave
//! an endpoint out (a test compares it with the router).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use palisade_commerce::address::ShippingAddress;
use palisade_commerce::catalog::{self, NewProduct, NewVariant, ProductStatus};
use palisade_commerce::idempotency::IdempotencyKey;
use palisade_commerce::orders::{self, Checkout, Line, Status};
use palisade_commerce::{disputes, images, ledger, listing, payments, payouts, themes};
use palisade_core::money::{Currency, Money};
use palisade_core::text::{Email, Slug};
use palisade_identity::sessions;
use palisade_store::StaffScope;
use palisade_store::permissions::Permission;
use palisade_store::{StoreScope, tenancy};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::ApiError;
use crate::http::access::{AccessRejection, StaffAccess};
use crate::http::id_path::IdPath;
use crate::http::json::Body;
use crate::http::session::{SessionRejection, SignedIn};
use crate::routes::account::STEP_UP_WINDOW;
use crate::routes::checkout::guest_proof;
use crate::routes::query;
use crate::routes::resolve_store;
use crate::routes::storefront::order_link;
use crate::state::AppState;

/// One documented endpoint: method, path, permission (`None`: public or any member), summary, request body
/// schema and response schema (JSON Schema fragments).
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub permission: Option<Permission>,
    pub staff: bool,
    pub summary: &'static str,
    pub body: Option<fn() -> Value>,
}

const fn ep(
    method: &'static str,
    path: &'static str,
    staff: bool,
    permission: Option<Permission>,
    summary: &'static str,
    body: Option<fn() -> Value>,
) -> Endpoint {
    Endpoint { method, path, permission, staff, summary, body }
}

fn s_checkout() -> Value {
    json!({"type": "object", "required": ["email", "address", "lines", "card"], "properties": {
        "email": {"type": "string", "format": "email"},
        "address": {"type": "object", "required": ["name", "line1", "city", "postcode", "country"], "properties": {
            "name": {"type": "string"}, "line1": {"type": "string"}, "line2": {"type": "string"},
            "city": {"type": "string"}, "postcode": {"type": "string"}, "country": {"type": "string"}}},
        "lines": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"type": "object", "required": ["variant_id", "quantity"],
            "properties": {"variant_id": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}}}},
        "card": {"type": "object", "required": ["number", "expiry", "cvc"], "properties": {
            "number": {"type": "string", "example": "4242424242424242"}, "expiry": {"type": "string", "example": "12/30"}, "cvc": {"type": "string"}}}
    }})
}
fn s_product() -> Value {
    json!({"type": "object", "required": ["slug", "title", "variants"], "properties": {
        "slug": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"},
        "status": {"type": "string", "enum": ["draft", "published", "archived"]}, "category": {"type": "string"},
        "variants": {"type": "array", "items": {"type": "object", "required": ["sku", "price_minor", "stock"], "properties": {
            "sku": {"type": "string"}, "options": {"type": "object"}, "price_minor": {"type": "integer", "minimum": 0}, "stock": {"type": "integer", "minimum": 0}}}}
    }})
}
fn s_status() -> Value {
    json!({"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["draft", "published", "archived"]}}})
}
fn s_stock() -> Value {
    json!({"type": "object", "required": ["stock"], "properties": {"stock": {"type": "integer", "minimum": 0}}})
}
fn s_price() -> Value {
    json!({"type": "object", "required": ["price_minor"], "properties": {"price_minor": {"type": "integer", "minimum": 0}}})
}
fn s_image() -> Value {
    json!({"type": "string", "format": "binary", "description": "the image bytes (PNG, JPEG, GIF or WebP, at most 5 MiB)"})
}
fn s_ship() -> Value {
    json!({"type": "object", "required": ["tracking_no"], "properties": {"tracking_no": {"type": "string", "maxLength": 64}}})
}
fn s_refund() -> Value {
    json!({"type": "object", "required": ["amount_minor"], "properties": {"amount_minor": {"type": "integer", "minimum": 1}, "note": {"type": "string"}}})
}
fn s_respond() -> Value {
    json!({"type": "object", "required": ["response"], "properties": {"response": {"type": "string"}}})
}
fn s_payout() -> Value {
    json!({"type": "object", "required": ["amount_minor"], "properties": {"amount_minor": {"type": "integer", "minimum": 1}}})
}
fn s_theme() -> Value {
    json!({"type": "object", "required": ["source"], "properties": {"source": {"type": "string"}}})
}
fn s_settings() -> Value {
    json!({"type": "object", "properties": {"flat_shipping_minor": {"type": "integer", "minimum": 0}, "tagline": {"type": "string", "maxLength": 140}}})
}

/// Every commerce API endpoint.
pub const ENDPOINTS: &[Endpoint] = &[
    ep("GET", "/api/v1/search", false, None, "Search published products across the marketplace (q, page)", None),
    ep("GET", "/api/v1/stores/{store}/products/{slug}", false, None, "A published product with its variants", None),
    ep(
        "POST",
        "/api/v1/stores/{store}/orders",
        false,
        None,
        "Place and pay an order (header Idempotency-Key required; a retry by the same sender with the same body returns the first order, any other reuse is 409 idempotency_key_reused)",
        Some(s_checkout),
    ),
    ep("GET", "/api/v1/admin/stores/{store}/products", true, None, "The store's products (page)", None),
    ep(
        "POST",
        "/api/v1/admin/stores/{store}/products",
        true,
        Some(Permission::Products),
        "Create a product with its variants",
        Some(s_product),
    ),
    ep("GET", "/api/v1/admin/stores/{store}/products/{product}", true, None, "One product", None),
    ep(
        "POST",
        "/api/v1/admin/stores/{store}/products/{product}/status",
        true,
        Some(Permission::Products),
        "Publish, unpublish or archive",
        Some(s_status),
    ),
    ep(
        "POST",
        "/api/v1/admin/stores/{store}/products/{product}/images",
        true,
        Some(Permission::Products),
        "Upload an image (raw bytes; optional ?alt=)",
        Some(s_image),
    ),
    ep(
        "PUT",
        "/api/v1/admin/stores/{store}/variants/{variant}/stock",
        true,
        Some(Permission::Products),
        "Set a variant's stock",
        Some(s_stock),
    ),
    ep(
        "PUT",
        "/api/v1/admin/stores/{store}/variants/{variant}/price",
        true,
        Some(Permission::Products),
        "Set a variant's price",
        Some(s_price),
    ),
    ep(
        "GET",
        "/api/v1/admin/stores/{store}/orders",
        true,
        Some(Permission::Orders),
        "The store's orders (status, page)",
        None,
    ),
    ep(
        "GET",
        "/api/v1/admin/stores/{store}/orders/{order}",
        true,
        Some(Permission::Orders),
        "One order with items and history",
        None,
    ),
    ep(
        "POST",
        "/api/v1/admin/stores/{store}/orders/{order}/ship",
        true,
        Some(Permission::Orders),
        "Mark shipped with a tracking number",
        Some(s_ship),
    ),
    ep(
        "POST",
        "/api/v1/admin/stores/{store}/orders/{order}/deliver",
        true,
        Some(Permission::Orders),
        "Mark delivered (starts the buyer-protection window)",
        None,
    ),
    ep(
        "POST",
        "/api/v1/admin/stores/{store}/orders/{order}/refund",
        true,
        Some(Permission::Refunds),
        "Refund part or all of what escrow holds",
        Some(s_refund),
    ),
    ep("GET", "/api/v1/admin/stores/{store}/disputes", true, Some(Permission::Orders), "The store's disputes", None),
    ep(
        "POST",
        "/api/v1/admin/stores/{store}/disputes/{dispute}/respond",
        true,
        Some(Permission::Orders),
        "Answer a dispute",
        Some(s_respond),
    ),
    ep(
        "GET",
        "/api/v1/admin/stores/{store}/balance",
        true,
        Some(Permission::Payouts),
        "Available balance and money held in escrow",
        None,
    ),
    ep("GET", "/api/v1/admin/stores/{store}/payouts", true, Some(Permission::Payouts), "Payout history", None),
    ep(
        "POST",
        "/api/v1/admin/stores/{store}/payouts",
        true,
        Some(Permission::Payouts),
        "Pay out to the bank (a signed-in person who re-entered their password in the last 10 minutes)",
        Some(s_payout),
    ),
    ep(
        "GET",
        "/api/v1/admin/stores/{store}/theme",
        true,
        Some(Permission::Theme),
        "Theme template versions and errors",
        None,
    ),
    ep(
        "PUT",
        "/api/v1/admin/stores/{store}/theme/{name}",
        true,
        Some(Permission::Theme),
        "Save a new version of a template",
        Some(s_theme),
    ),
    ep("GET", "/api/v1/admin/stores/{store}/settings", true, Some(Permission::Theme), "Storefront settings", None),
    ep(
        "PUT",
        "/api/v1/admin/stores/{store}/settings",
        true,
        Some(Permission::Theme),
        "Change storefront settings",
        Some(s_settings),
    ),
];

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/v1/search", get(search))
        .route("/api/v1/stores/{store}/products/{slug}", get(public_product))
        .route("/api/v1/stores/{store}/orders", post(create_order))
        .route("/api/v1/admin/stores/{store}/products", get(list_products).post(create_product))
        .route("/api/v1/admin/stores/{store}/products/{product}", get(get_product))
        .route("/api/v1/admin/stores/{store}/products/{product}/status", post(product_status))
        .route(
            "/api/v1/admin/stores/{store}/products/{product}/images",
            post(upload_image).layer(axum::extract::DefaultBodyLimit::max(crate::http::layers::UPLOAD_LIMIT)),
        )
        .route("/api/v1/admin/stores/{store}/variants/{variant}/stock", put(set_stock))
        .route("/api/v1/admin/stores/{store}/variants/{variant}/price", put(set_price))
        .route("/api/v1/admin/stores/{store}/orders", get(list_orders))
        .route("/api/v1/admin/stores/{store}/orders/{order}", get(get_order))
        .route("/api/v1/admin/stores/{store}/orders/{order}/ship", post(ship))
        .route("/api/v1/admin/stores/{store}/orders/{order}/deliver", post(deliver))
        .route("/api/v1/admin/stores/{store}/orders/{order}/refund", post(refund))
        .route("/api/v1/admin/stores/{store}/disputes", get(list_disputes))
        .route("/api/v1/admin/stores/{store}/disputes/{dispute}/respond", post(respond))
        .route("/api/v1/admin/stores/{store}/balance", get(balance))
        .route("/api/v1/admin/stores/{store}/payouts", get(list_payouts).post(payout))
        .route("/api/v1/admin/stores/{store}/theme", get(theme))
        .route("/api/v1/admin/stores/{store}/theme/{name}", put(save_theme))
        .route("/api/v1/admin/stores/{store}/settings", get(settings).put(save_settings))
}

type ApiResult = Result<Response, ApiErr>;

/// An access refusal or an API error, both answered in the envelope.
#[derive(Debug)]
pub enum ApiErr {
    Access(AccessRejection),
    Api(ApiError),
}

impl<E: Into<ApiError>> From<E> for ApiErr {
    fn from(e: E) -> Self {
        ApiErr::Api(e.into())
    }
}

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        match self {
            ApiErr::Access(a) => a.into_response(),
            ApiErr::Api(e) => e.into_response(),
        }
    }
}

fn need(access: &StaffAccess, p: Permission) -> Result<(), ApiErr> {
    access.require(p).map_err(ApiErr::Access)
}

fn ok(v: impl serde::Serialize) -> ApiResult {
    Ok(Json(v).into_response())
}

fn scope(access: &StaffAccess) -> &StaffScope {
    &access.membership.scope
}

async fn currency_of(state: &AppState, scope: &StoreScope) -> Result<Currency, ApiErr> {
    let store = tenancy::get_store(&state.db, scope).await?;
    Ok(store.currency)
}

/// Every endpoint `/api/openapi.json` documents: commerce and the store's firewall.
pub fn all_endpoints() -> impl Iterator<Item = &'static Endpoint> {
    ENDPOINTS.iter().chain(crate::routes::firewall_api::ENDPOINTS)
}

/// The OpenAPI 3.1 document for the store API.
#[must_use]
pub fn openapi_document() -> Value {
    let mut paths = serde_json::Map::new();
    for e in all_endpoints() {
        let params: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut op = json!({
            "summary": e.summary,
            "parameters": params,
            "responses": {
                "200": {"description": "success", "content": {"application/json": {}}},
                "4XX": {"description": "refused", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        if let Some(o) = op.as_object_mut() {
            if let Some(body) = e.body {
                let media = if e.path.ends_with("/images") { "application/octet-stream" } else { "application/json" };
                o.insert("requestBody".into(), json!({"required": true, "content": {media: {"schema": body()}}}));
            }
            if e.staff {
                o.insert("security".into(), json!([{"storeToken": []}, {"session": []}]));
                if let Some(p) = e.permission {
                    o.insert("x-permission".into(), json!(p.key()));
                }
            }
        }
        let entry = paths.entry(e.path.to_owned()).or_insert_with(|| json!({}));
        if let Some(m) = entry.as_object_mut() {
            m.insert(e.method.to_lowercase(), op);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Palisade API", "version": env!("CARGO_PKG_VERSION"),
            "description": "Marketplace and store-admin API. Errors: {\"error\": {\"code\", \"message\"}} with a stable code."},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "storeToken": {"type": "http", "scheme": "bearer", "description": "a store API token (pal_st_…)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "palisade_session"},
            },
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}}}}}},
        },
    })
}

async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

#[derive(Debug, Deserialize)]
struct SearchQ {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<i64>,
}

async fn search(State(state): State<AppState>, Query(q): Query<SearchQ>) -> ApiResult {
    let text: String = q.q.chars().take(200).collect();
    ok(listing::search(&state.db, &text, q.page.unwrap_or(1)).await?)
}

async fn public_product(State(state): State<AppState>, Path((store, slug)): Path<(String, String)>) -> ApiResult {
    let id = resolve_store(&state, &store).await?;
    let scope = StoreScope::shopper(id, None);
    ok(catalog::get_by_slug(&state.db, &scope, &slug).await?)
}

#[derive(Deserialize)]
struct CardIn {
    number: String,
    expiry: String,
    cvc: String,
}

#[derive(Deserialize)]
struct LineIn {
    variant_id: String,
    quantity: i64,
}

#[derive(Deserialize)]
struct OrderIn {
    email: String,
    address: Value,
    lines: Vec<LineIn>,
    card: CardIn,
}

async fn create_order(
    State(state): State<AppState>,
    s: Result<SignedIn, SessionRejection>,
    headers: HeaderMap,
    Path(store): Path<String>,
    Body(body): Body<OrderIn>,
) -> ApiResult {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "idempotency_key_required",
            "send an Idempotency-Key header (1–100 characters)",
        )
    })?;
    let key = IdempotencyKey::parse(key)?;
    let email = Email::parse(&body.email)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()))?;
    let address = ShippingAddress::from_json(&body.address)?;
    let id = resolve_store(&state, &store).await?;
    let buyer = s.ok().map(|s| s.account.id);
    let scope = StoreScope::shopper(id, buyer);
    // A guest's key is bound to the card they pay with (keyed hash); a buyer's to their account.
    let guest_proof = buyer.is_none().then(|| guest_proof(&state, &body.card.number, &body.card.expiry, None));
    let req = Checkout {
        guest_proof,
        email,
        address,
        lines: body.lines.into_iter().map(|l| Line { variant_id: l.variant_id, quantity: l.quantity }).collect(),
        idempotency_key: key,
        card: payments::card(&body.card.number, body.card.expiry.trim(), body.card.cvc.trim()),
    };
    let placed = orders::checkout(&state.db, state.gateway.as_ref(), &scope, req).await?;
    let order = &placed.order;
    let link = format!("{}{}", state.config.public_url, order_link(&state, order));
    if order.status == Status::Paid {
        return Ok((StatusCode::CREATED, Json(json!({"order": order, "link": link}))).into_response());
    }
    // Declined (the order is recorded as cancelled): the error envelope, with the order beside it.
    let reason = placed.access.events(&state.db).await?.last().map(|e| e.note.clone());
    let e = crate::http::error::card_declined(reason.as_deref().unwrap_or("the payment did not go through"));
    let body = json!({"error": {"code": e.code, "message": e.message}, "order": order, "link": link});
    Ok((e.status, Json(body)).into_response())
}

#[derive(Debug, Deserialize)]
struct PageQ {
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    status: Option<String>,
}

async fn list_products(State(state): State<AppState>, access: StaffAccess, Query(q): Query<PageQ>) -> ApiResult {
    let (_, offset) = query::page(q.page, 50)?;
    ok(catalog::list_products(&state.db, scope(&access), 50, offset).await?)
}

#[derive(Deserialize)]
struct VariantIn {
    sku: String,
    #[serde(default)]
    options: Value,
    price_minor: i64,
    stock: i64,
}

#[derive(Deserialize)]
struct ProductIn {
    slug: String,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    category: Option<String>,
    variants: Vec<VariantIn>,
}

async fn create_product(
    State(state): State<AppState>,
    access: StaffAccess,
    body: Result<Body<ProductIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Products)?;
    let Body(body) = body?;
    let currency = currency_of(&state, scope(&access)).await?;
    let slug = Slug::parse(&body.slug)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()))?;
    let status = ProductStatus::parse(body.status.as_deref().unwrap_or("draft"))?;
    let variants = body
        .variants
        .into_iter()
        .map(|v| NewVariant {
            sku: v.sku,
            options: if v.options.is_null() { json!({}) } else { v.options },
            price: Money::new(v.price_minor, currency),
            stock: v.stock,
        })
        .collect();
    let p = catalog::create_product(
        &state.db,
        scope(&access),
        NewProduct {
            slug,
            title: body.title,
            description: body.description,
            status,
            category: body.category,
            variants,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(p)).into_response())
}

async fn get_product(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult {
    let p = catalog::get_product(&state.db, scope(&access), &id).await?;
    let imgs = images::list(&state.db, scope(&access), &id).await?;
    ok(json!({"product": p, "images": imgs}))
}

#[derive(Deserialize)]
struct StatusIn {
    status: String,
}

async fn product_status(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, id)): Path<(String, String)>,
    body: Result<Body<StatusIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Products)?;
    let Body(b) = body?;
    catalog::set_status(&state.db, scope(&access), &id, ProductStatus::parse(&b.status)?).await?;
    ok(catalog::get_product(&state.db, scope(&access), &id).await?)
}

#[derive(Debug, Deserialize)]
struct AltQ {
    #[serde(default)]
    alt: String,
}

async fn upload_image(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, id)): Path<(String, String)>,
    Query(q): Query<AltQ>,
    bytes: Bytes,
) -> ApiResult {
    need(&access, Permission::Products)?;
    let img = images::add(&state.db, &state.objects, scope(&access), &id, bytes, &q.alt).await?;
    Ok((StatusCode::CREATED, Json(img)).into_response())
}

#[derive(Deserialize)]
struct StockIn {
    stock: i64,
}

async fn set_stock(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, v)): Path<(String, String)>,
    body: Result<Body<StockIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Products)?;
    let Body(b) = body?;
    catalog::set_stock(&state.db, scope(&access), &v, b.stock).await?;
    ok(json!({"variant_id": v, "stock": b.stock}))
}

#[derive(Deserialize)]
struct PriceIn {
    price_minor: i64,
}

async fn set_price(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, v)): Path<(String, String)>,
    body: Result<Body<PriceIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Products)?;
    let Body(b) = body?;
    let currency = currency_of(&state, scope(&access)).await?;
    catalog::set_price(&state.db, scope(&access), &v, Money::new(b.price_minor, currency)).await?;
    ok(json!({"variant_id": v, "price": Money::new(b.price_minor, currency)}))
}

async fn list_orders(State(state): State<AppState>, access: StaffAccess, Query(q): Query<PageQ>) -> ApiResult {
    need(&access, Permission::Orders)?;
    let status = query::order_status(q.status.as_deref())?;
    let (_, offset) = query::page(q.page, 50)?;
    ok(orders::list(&state.db, scope(&access), status, 50, offset).await?)
}

async fn order_json(state: &AppState, scope: &StaffScope, id: &str) -> ApiResult {
    let o = orders::get(&state.db, scope, id).await?;
    let items = orders::items(&state.db, scope, id).await?;
    let events = orders::events(&state.db, scope, id).await?;
    let held = ledger::escrow_balance(&state.db, scope, id).await?;
    ok(json!({"order": o, "items": items, "events": events, "held_minor": held}))
}

async fn get_order(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult {
    need(&access, Permission::Orders)?;
    order_json(&state, scope(&access), &id).await
}

#[derive(Deserialize)]
struct ShipIn {
    tracking_no: String,
}

async fn ship(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, id)): Path<(String, String)>,
    body: Result<Body<ShipIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Orders)?;
    let Body(b) = body?;
    orders::transition(&state.db, scope(&access), &id, Status::Shipped, Some(&b.tracking_no), &state.config.commerce)
        .await?;
    order_json(&state, scope(&access), &id).await
}

async fn deliver(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult {
    need(&access, Permission::Orders)?;
    orders::transition(&state.db, scope(&access), &id, Status::Delivered, None, &state.config.commerce).await?;
    order_json(&state, scope(&access), &id).await
}

#[derive(Deserialize)]
struct RefundIn {
    amount_minor: i64,
    #[serde(default)]
    note: String,
}

async fn refund(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, id)): Path<(String, String)>,
    body: Result<Body<RefundIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Refunds)?;
    let Body(b) = body?;
    orders::refund(&state.db, scope(&access), &id, b.amount_minor, &b.note).await?;
    order_json(&state, scope(&access), &id).await
}

async fn list_disputes(State(state): State<AppState>, access: StaffAccess) -> ApiResult {
    need(&access, Permission::Orders)?;
    ok(disputes::list(&state.db, scope(&access)).await?)
}

#[derive(Deserialize)]
struct RespondIn {
    response: String,
}

async fn respond(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, palisade_core::DisputeId)>,
    body: Result<Body<RespondIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Orders)?;
    let Body(b) = body?;
    ok(disputes::respond(&state.db, scope(&access), id, &b.response).await?)
}

async fn balance(State(state): State<AppState>, access: StaffAccess) -> ApiResult {
    need(&access, Permission::Payouts)?;
    let currency = currency_of(&state, scope(&access)).await?;
    let available = ledger::store_balance(&state.db, scope(&access), currency).await?;
    let held = ledger::escrow_total(&state.db, scope(&access)).await?;
    ok(json!({"available": Money::new(available, currency), "held": Money::new(held, currency)}))
}

async fn list_payouts(State(state): State<AppState>, access: StaffAccess) -> ApiResult {
    need(&access, Permission::Payouts)?;
    ok(payouts::list(&state.db, scope(&access)).await?)
}

#[derive(Deserialize)]
struct PayoutIn {
    amount_minor: i64,
}

async fn payout(
    State(state): State<AppState>,
    access: StaffAccess,
    body: Result<Body<PayoutIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Payouts)?;
    let Body(b) = body?;
    let Some(session) = &access.session else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "interactive_only",
            "payouts are made by a signed-in person, not an API token",
        )
        .into());
    };
    if !sessions::is_fresh(session, state.db.now(), STEP_UP_WINDOW) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "step_up_required",
            "re-enter your password (POST /account/reauth) and try again within 10 minutes",
        )
        .into());
    }
    let currency = currency_of(&state, scope(&access)).await?;
    let p = payouts::request(&state.db, scope(&access), Money::new(b.amount_minor, currency)).await?;
    Ok((StatusCode::CREATED, Json(p)).into_response())
}

async fn theme(State(state): State<AppState>, access: StaffAccess) -> ApiResult {
    need(&access, Permission::Theme)?;
    ok(json!({"editable": themes::EDITABLE, "versions": themes::versions(&state.db, scope(&access)).await?}))
}

#[derive(Deserialize)]
struct ThemeIn {
    source: String,
}

async fn save_theme(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, name)): Path<(String, String)>,
    body: Result<Body<ThemeIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Theme)?;
    let Body(b) = body?;
    let v = themes::save(&state.db, scope(&access), &name, &b.source).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn settings(State(state): State<AppState>, access: StaffAccess) -> ApiResult {
    need(&access, Permission::Theme)?;
    let s = orders::settings(&state.db, scope(&access)).await?;
    ok(json!({"flat_shipping_minor": s.flat_shipping_minor, "tagline": s.tagline}))
}

#[derive(Deserialize)]
struct SettingsIn {
    #[serde(default)]
    flat_shipping_minor: Option<i64>,
    #[serde(default)]
    tagline: Option<String>,
}

async fn save_settings(
    State(state): State<AppState>,
    access: StaffAccess,
    body: Result<Body<SettingsIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Theme)?;
    let Body(b) = body?;
    // Fields left out keep their value; both are checked before either is written, in one statement, so a bad
    // tagline cannot leave a new shipping price saved behind a 422.
    let current = orders::settings(&state.db, scope(&access)).await?;
    let shipping = b.flat_shipping_minor.unwrap_or(current.flat_shipping_minor);
    let tagline = b.tagline.unwrap_or(current.tagline);
    orders::set_settings(&state.db, scope(&access), shipping, &tagline).await?;
    settings(State(state), access).await
}

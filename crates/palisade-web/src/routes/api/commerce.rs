//! The commerce JSON API (`/api/v1`): public catalog and order creation, and the merchant's store admin. Each
//! handler's `#[utoipa::path]` is its route, its OpenAPI entry and its permission (`x-permission`); [`api`] routes
//! exactly those declarations (see [`crate::routes::api::declarations`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use palisade_commerce::address::ShippingAddress;
use palisade_commerce::catalog::{self, NewProduct, NewVariant, Product, ProductStatus};
use palisade_commerce::idempotency::IdempotencyKey;
use palisade_commerce::images::Image;
use palisade_commerce::listing::Page;
use palisade_commerce::orders::{self, Checkout, Line, Order, Status};
use palisade_commerce::payouts::Payout;
use palisade_commerce::{disputes, images, ledger, listing, payments, payouts, themes};
use palisade_core::money::{Currency, Money};
use palisade_core::text::{Email, Slug};
use palisade_core::{OrderId, ProductId, VariantId};
use palisade_store::StaffScope;
use palisade_store::StoreScope;
use palisade_store::permissions::Permission;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::http::ApiError;
use crate::http::access::{AccessRejection, StaffAccess};
use crate::http::client::ClientAddr;
use crate::http::id_path::IdPath;
use crate::http::json::Body;
use crate::http::session::{SessionRejection, SignedIn};
use crate::routes::api::declarations::access;
use crate::routes::query;
use crate::routes::resolve_store;
use crate::routes::storefront::catalog::order_link;
use crate::routes::storefront::checkout::guest_proof;
use crate::services;
use crate::services::card_testing;
use crate::state::AppState;

/// The commerce endpoints, from their declarations (see [`crate::routes::api::declarations`]).
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(public_product))
        .routes(routes!(create_order))
        .routes(routes!(shipping_rates))
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product))
        .routes(routes!(product_status))
        .routes(
            routes!(upload_image)
                .map(|r| r.layer(axum::extract::DefaultBodyLimit::max(crate::http::layers::UPLOAD_LIMIT))),
        )
        .routes(routes!(set_stock))
        .routes(routes!(set_price))
        .routes(routes!(list_orders))
        .routes(routes!(get_order))
        .routes(routes!(ship))
        .routes(routes!(deliver))
        .routes(routes!(refund))
        .routes(routes!(list_disputes))
        .routes(routes!(respond))
        .routes(routes!(balance))
        .routes(routes!(list_payouts, payout))
        .routes(routes!(theme))
        .routes(routes!(save_theme))
        .routes(routes!(settings, save_settings))
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
    Ok(services::payouts::currency(state, scope).await?)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQ {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/search",
    tag = "catalog",
    summary = "Search published products across the marketplace",
    params(SearchQ),
    responses((status = 200, description = "one page of matching products", body = Page)),
    extensions(("x-permission" = json!(access::PUBLIC)))
)]
async fn search(State(state): State<AppState>, Query(q): Query<SearchQ>) -> ApiResult {
    let text: String = q.q.chars().take(200).collect();
    ok(listing::search(&state.db, &text, q.page.unwrap_or(1)).await?)
}

#[utoipa::path(
    get,
    path = "/api/v1/stores/{store}/products/{slug}",
    tag = "catalog",
    summary = "A published product with its variants",
    responses((status = 200, description = "success", body = Product)),
    extensions(("x-permission" = json!(access::PUBLIC)))
)]
async fn public_product(State(state): State<AppState>, Path((store, slug)): Path<(String, String)>) -> ApiResult {
    let id = resolve_store(&state, &store).await?;
    let scope = StoreScope::shopper(id, None);
    ok(catalog::get_by_slug(&state.db, &scope, &slug).await?)
}

#[derive(Deserialize, ToSchema)]
struct CardIn {
    number: String,
    expiry: String,
    cvc: String,
}

#[derive(Deserialize, ToSchema)]
struct LineIn {
    variant_id: VariantId,
    quantity: i64,
}

#[derive(Deserialize, ToSchema)]
struct OrderIn {
    email: String,
    /// name, line1, city, postcode and country (each 1–200 characters); line2 optional.
    #[schema(value_type = Object)]
    address: Value,
    lines: Vec<LineIn>,
    card: CardIn,
    /// A code from `POST /api/v1/stores/{store}/shipping-rates` for this address and lines; absent: the store's
    /// flat rate (`standard`). The amount is computed again here, never taken from the caller.
    #[serde(default)]
    shipping_rate: Option<String>,
    /// The rate's `amount_minor` as quoted: when sent and the rate now costs something else, 409
    /// `shipping_rate_changed` and nothing is charged.
    #[serde(default)]
    expected_shipping_minor: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
struct RatesIn {
    #[schema(value_type = Object)]
    address: Value,
    lines: Vec<LineIn>,
}

#[utoipa::path(
    post,
    path = "/api/v1/stores/{store}/shipping-rates",
    tag = "checkout",
    summary = "The shipping rates offered for these lines and this address: the store's flat rate and those of its installed extensions",
    request_body = RatesIn,
    responses((status = 200, description = "`{\"rates\": [{code, label, amount_minor, currency, by}]}`; pass a `code` as the order's `shipping_rate`", content_type = "application/json")),
    extensions(("x-permission" = json!(access::PUBLIC)))
)]
async fn shipping_rates(
    State(state): State<AppState>,
    s: Result<SignedIn, SessionRejection>,
    Path(store): Path<String>,
    Body(body): Body<RatesIn>,
) -> ApiResult {
    let address = ShippingAddress::from_json(&body.address)?;
    let id = resolve_store(&state, &store).await?;
    let buyer = s.ok().map(|s| s.account.id);
    let scope = StoreScope::shopper(id, buyer);
    let wanted: Vec<_> = body.lines.iter().map(|l| (l.variant_id, l.quantity)).collect();
    let rates = crate::services::extensions::shipping_rates(&state, &scope, buyer, &wanted, &address).await?;
    ok(json!({"rates": rates}))
}

/// The chosen rate, priced now for these lines and this address (`None`: the flat rate); 422
/// `shipping_rate_unavailable` for a code not offered.
async fn chosen_shipping(
    state: &AppState,
    scope: &StoreScope,
    (buyer, key): (Option<palisade_core::AccountId>, &IdempotencyKey),
    wanted: &[(VariantId, i64)],
    address: &ShippingAddress,
    (code, expected): (Option<&str>, Option<i64>),
) -> Result<Option<orders::ShippingChoice>, ApiError> {
    use crate::services::extensions::{STANDARD_RATE, offers_shipping, shipping_rates};
    // The usual case costs one read: no choice, no extension pricing shipping, the flat rate.
    if code.is_none_or(|c| c == STANDARD_RATE) && expected.is_none() && !offers_shipping(state, scope).await? {
        return Ok(None);
    }
    // A retry of a placed order gets that order back, whatever its rates are now.
    if orders::key_used(&state.db, scope, key).await? {
        return Ok(None);
    }
    let rates = shipping_rates(state, scope, buyer, wanted, address).await?;
    let code = code.unwrap_or(STANDARD_RATE);
    let Some(rate) = rates.iter().find(|r| r.code == code) else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            if code == STANDARD_RATE { "shipping_rate_required" } else { "shipping_rate_unavailable" },
            "that shipping rate is not offered for these lines and this address; ask for the rates and send one's code",
        ));
    };
    if expected.is_some_and(|e| e != rate.amount_minor) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "shipping_rate_changed",
            format!("that shipping rate costs {} now; nothing was charged", rate.amount_minor),
        ));
    }
    Ok(if rate.by.is_none() { None } else { rate.choice() })
}

#[utoipa::path(
    post,
    path = "/api/v1/stores/{store}/orders",
    tag = "checkout",
    summary = "Place and pay an order",
    params(("Idempotency-Key" = String, Header, description = "required, 1–100 characters; a retry by the same sender with the same body returns the first order, any other reuse is 409 idempotency_key_reused")),
    request_body = OrderIn,
    responses((status = 201, description = "paid (or paid and held for the merchant's fraud review): the order and its signed link", content_type = "application/json"), (status = 402, description = "the card was declined: no order was kept; another card may be tried", content_type = "application/json"), (status = 403, description = "order_refused: the fraud rules refused the order; nothing was charged", content_type = "application/json"), (status = 422, description = "checkout_refused_by_extension: an extension the store installed refused the order, with its message; nothing was charged (also `invalid` and the other input errors)", content_type = "application/json"), (status = 428, description = "checkout_challenge: several declines came from this card, address or session; solve `error.challenge` (find n with SHA-256(challenge + \":\" + n) starting with `error.bits` zero bits) and send the same request with the headers X-Checkout-Challenge and X-Checkout-Proof", content_type = "application/json"), (status = 429, description = "card_testing_refused: too many declines from this card, address or session; nothing was charged", content_type = "application/json")),
    extensions(("x-permission" = json!(access::PUBLIC)))
)]
async fn create_order(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
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
    let expiry = payments::parse_expiry(&body.card.expiry, state.db.now())
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_expiry", e.to_string()))?;
    // Installed extensions may refuse the order (their checkout validation), before anything is charged.
    let wanted: Vec<_> = body.lines.iter().map(|l| (l.variant_id, l.quantity)).collect();
    let choice = (body.shipping_rate.as_deref(), body.expected_shipping_minor);
    let shipping = chosen_shipping(&state, &scope, (buyer, &key), &wanted, &address, choice).await?;
    if let Some(no) = crate::services::extensions::checkout_refusal(&state, &scope, buyer, &key, &wanted).await? {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "checkout_refused_by_extension",
            format!("{}: {}", no.extension, no.message),
        )
        .into());
    }
    let guest_proof = buyer.is_none().then(|| guest_proof(&state, &body.card.number, &expiry, None));
    // The card-testing guard, before anything is placed or charged (issue #20 item 4). An API guest has no
    // session: its address stands in (never a shared empty key, which would make every guest one session).
    let card_fp = card_testing::card_fingerprint(&state, &body.card.number);
    let session = match buyer {
        Some(b) => format!("account:{b}"),
        None => format!("addr:{}", ip.map(|i| i.to_string()).unwrap_or_default()),
    };
    let known_buyer = palisade_commerce::fraud::known_buyer(&state.db, &scope).await?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let attempt = card_testing::CheckoutAttempt {
        store: id,
        card: &card_fp,
        address: ip,
        session: &session,
        known_buyer,
        proof: header("x-checkout-challenge").zip(header("x-checkout-proof")),
    };
    let pass = match card_testing::gate(&state, &attempt) {
        card_testing::Decision::Allow(pass) => pass,
        card_testing::Decision::Challenge(c) => {
            let body = json!({"error": {"code": card_testing::CHALLENGE_CODE, "message": card_testing::CHALLENGE_MESSAGE,
                "challenge": c, "bits": card_testing::CHALLENGE_BITS}});
            return Ok((StatusCode::PRECONDITION_REQUIRED, Json(body)).into_response());
        }
        card_testing::Decision::Refuse => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                card_testing::REFUSED_CODE,
                card_testing::REFUSED_MESSAGE,
            )
            .into());
        }
    };
    let fingerprints = card_testing::fingerprints(&state, &body.card.number, email.as_str(), &address, ip);
    let req = Checkout {
        guest_proof,
        email,
        address,
        lines: body.lines.into_iter().map(|l| Line { variant_id: l.variant_id, quantity: l.quantity }).collect(),
        idempotency_key: key,
        card: payments::card(&body.card.number, &expiry, body.card.cvc.trim()),
        fingerprints,
    };
    // A declined card is the 402 error envelope: no order is kept, and another card may be tried.
    let placed = orders::checkout_shipped(&state.db, state.gateway.as_ref(), &scope, req, shipping.as_ref()).await;
    pass.outcome(placed.as_ref().map(|_| ()));
    let placed = placed?;
    let order = &placed.order;
    let link = format!("{}{}", state.config.public_url, order_link(&state, order));
    Ok((StatusCode::CREATED, Json(json!({"order": order, "link": link}))).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQ {
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    status: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/products",
    tag = "store admin",
    summary = "The store's products",
    params(PageQ),
    responses((status = 200, description = "one page of products", body = Vec<Product>)),
    extensions(("x-permission" = json!(access::MEMBER)))
)]
async fn list_products(State(state): State<AppState>, access: StaffAccess, Query(q): Query<PageQ>) -> ApiResult {
    let (_, offset) = query::page(q.page, 50)?;
    ok(catalog::list_products(&state.db, scope(&access), 50, offset).await?)
}

#[derive(Deserialize, ToSchema)]
struct VariantIn {
    sku: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    options: Value,
    price_minor: i64,
    stock: i64,
}

#[derive(Deserialize, ToSchema)]
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

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{store}/products",
    tag = "store admin",
    summary = "Create a product with its variants",
    request_body = ProductIn,
    responses((status = 201, description = "the product", body = Product)),
    extensions(("x-permission" = json!(Permission::Products.key())))
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/products/{product}",
    tag = "store admin",
    summary = "One product with its images",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(access::MEMBER)))
)]
async fn get_product(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, ProductId)>,
) -> ApiResult {
    let p = catalog::get_product(&state.db, scope(&access), id).await?;
    let imgs = images::list(&state.db, scope(&access), id).await?;
    ok(json!({"product": p, "images": imgs}))
}

#[derive(Deserialize, ToSchema)]
struct StatusIn {
    status: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{store}/products/{product}/status",
    tag = "store admin",
    summary = "Publish, unpublish or archive",
    request_body = StatusIn,
    responses((status = 200, description = "the product", body = Product)),
    extensions(("x-permission" = json!(Permission::Products.key())))
)]
async fn product_status(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, ProductId)>,
    body: Result<Body<StatusIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Products)?;
    let Body(b) = body?;
    catalog::set_status(&state.db, scope(&access), id, ProductStatus::parse(&b.status)?).await?;
    ok(catalog::get_product(&state.db, scope(&access), id).await?)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AltQ {
    #[serde(default)]
    alt: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{store}/products/{product}/images",
    tag = "store admin",
    summary = "Upload an image (raw bytes)",
    params(AltQ),
    request_body(content = String, content_type = "application/octet-stream", description = "the image bytes (PNG, JPEG, GIF or WebP, at most 5 MiB)"),
    responses((status = 201, description = "the image", body = Image)),
    extensions(("x-permission" = json!(Permission::Products.key())))
)]
async fn upload_image(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, ProductId)>,
    Query(q): Query<AltQ>,
    bytes: Bytes,
) -> ApiResult {
    need(&access, Permission::Products)?;
    let img = images::add(&state.db, &state.objects, scope(&access), id, bytes, &q.alt).await?;
    Ok((StatusCode::CREATED, Json(img)).into_response())
}

#[derive(Deserialize, ToSchema)]
struct StockIn {
    stock: i64,
}

#[utoipa::path(
    put,
    path = "/api/v1/admin/stores/{store}/variants/{variant}/stock",
    tag = "store admin",
    summary = "Set a variant's stock",
    request_body = StockIn,
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Products.key())))
)]
async fn set_stock(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, v)): IdPath<(String, VariantId)>,
    body: Result<Body<StockIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Products)?;
    let Body(b) = body?;
    catalog::set_stock(&state.db, scope(&access), v, b.stock).await?;
    ok(json!({"variant_id": v, "stock": b.stock}))
}

#[derive(Deserialize, ToSchema)]
struct PriceIn {
    price_minor: i64,
}

#[utoipa::path(
    put,
    path = "/api/v1/admin/stores/{store}/variants/{variant}/price",
    tag = "store admin",
    summary = "Set a variant's price",
    request_body = PriceIn,
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Products.key())))
)]
async fn set_price(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, v)): IdPath<(String, VariantId)>,
    body: Result<Body<PriceIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Products)?;
    let Body(b) = body?;
    let currency = currency_of(&state, scope(&access)).await?;
    catalog::set_price(&state.db, scope(&access), v, Money::new(b.price_minor, currency)).await?;
    ok(json!({"variant_id": v, "price": Money::new(b.price_minor, currency)}))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/orders",
    tag = "store admin",
    summary = "The store's orders",
    params(PageQ),
    responses((status = 200, description = "one page of orders", body = Vec<Order>)),
    extensions(("x-permission" = json!(Permission::Orders.key())))
)]
async fn list_orders(State(state): State<AppState>, access: StaffAccess, Query(q): Query<PageQ>) -> ApiResult {
    need(&access, Permission::Orders)?;
    let status = query::order_status(q.status.as_deref())?;
    let (_, offset) = query::page(q.page, 50)?;
    let list = orders::list(&state.db, scope(&access), status, 50, offset).await?;
    let level = access.data_level();
    ok(list.iter().map(|o| order_view(o, level)).collect::<Result<Vec<_>, _>>()?)
}

/// What of an order an app below customer data level 2 sees: named fields only (a field added to orders later is
/// not shown to apps until it is added here). No buyer email, address, card details, carrier or tracking number
/// (a carrier's site maps a tracking number to the recipient); the buyer's account id from level 1.
const APP_ORDER_FIELDS: [&str; 10] = [
    "id",
    "store_id",
    "number",
    "status",
    "total",
    "subtotal",
    "shipping",
    "refunded_minor",
    "created_at",
    "updated_at",
];

/// An order as the caller may see it: everything for staff and level-2 apps, [`APP_ORDER_FIELDS`] below
/// (protected customer data, as Shopify's levels).
fn order_view(order: &orders::Order, level: u8) -> Result<Value, ApiError> {
    let v = serde_json::to_value(order).map_err(|_| ApiError::internal())?;
    if level >= 2 {
        return Ok(v);
    }
    let Value::Object(mut all) = v else { return Err(ApiError::internal()) };
    let mut shown = serde_json::Map::new();
    let mut keep = |key: &str| {
        if let Some(value) = all.remove(key) {
            shown.insert(key.to_owned(), value);
        }
    };
    APP_ORDER_FIELDS.iter().for_each(|k| keep(k));
    if level == 1 {
        keep("buyer_id");
    }
    Ok(Value::Object(shown))
}

async fn order_json(state: &AppState, access: &StaffAccess, id: OrderId) -> ApiResult {
    let scope = scope(access);
    let o = order_view(&orders::get(&state.db, scope, id).await?, access.data_level())?;
    let items = orders::items(&state.db, scope, id).await?;
    let mut events =
        serde_json::to_value(orders::events(&state.db, scope, id).await?).map_err(|_| ApiError::internal())?;
    if access.data_level() < 2 {
        // The history's notes carry card endings and tracking numbers: the moves and their times only.
        for event in events.as_array_mut().into_iter().flatten() {
            if let Some(fields) = event.as_object_mut() {
                fields.remove("note");
            }
        }
    }
    let held = ledger::escrow_balance(&state.db, scope, id).await?;
    ok(json!({"order": o, "items": items, "events": events, "held_minor": held}))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/orders/{order}",
    tag = "store admin",
    summary = "One order with items, history and the money escrow holds",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Orders.key())))
)]
async fn get_order(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, OrderId)>,
) -> ApiResult {
    need(&access, Permission::Orders)?;
    order_json(&state, &access, id).await
}

#[derive(Deserialize, ToSchema)]
struct ShipIn {
    tracking_no: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{store}/orders/{order}/ship",
    tag = "store admin",
    summary = "Mark shipped with a tracking number",
    request_body = ShipIn,
    responses((status = 200, description = "the order", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Orders.key())))
)]
async fn ship(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, OrderId)>,
    body: Result<Body<ShipIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Orders)?;
    let Body(b) = body?;
    orders::transition(&state.db, scope(&access), id, Status::Shipped, Some(&b.tracking_no), &state.config.commerce)
        .await?;
    order_json(&state, &access, id).await
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{store}/orders/{order}/deliver",
    tag = "store admin",
    summary = "Mark delivered (starts the buyer-protection window)",
    responses((status = 200, description = "the order", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Orders.key())))
)]
async fn deliver(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, OrderId)>,
) -> ApiResult {
    need(&access, Permission::Orders)?;
    orders::transition(&state.db, scope(&access), id, Status::Delivered, None, &state.config.commerce).await?;
    order_json(&state, &access, id).await
}

#[derive(Deserialize, ToSchema)]
struct RefundIn {
    amount_minor: i64,
    #[serde(default)]
    note: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{store}/orders/{order}/refund",
    tag = "store admin",
    summary = "Refund part or all of what escrow holds",
    request_body = RefundIn,
    responses((status = 200, description = "the order", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Refunds.key())))
)]
async fn refund(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, OrderId)>,
    body: Result<Body<RefundIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Refunds)?;
    let Body(b) = body?;
    orders::refund(&state.db, scope(&access), id, b.amount_minor, &b.note).await?;
    order_json(&state, &access, id).await
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/disputes",
    tag = "store admin",
    summary = "The store's disputes",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Orders.key())))
)]
async fn list_disputes(State(state): State<AppState>, access: StaffAccess) -> ApiResult {
    need(&access, Permission::Orders)?;
    ok(disputes::list(&state.db, scope(&access)).await?)
}

#[derive(Deserialize, ToSchema)]
struct RespondIn {
    response: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{store}/disputes/{dispute}/respond",
    tag = "store admin",
    summary = "Answer a dispute",
    request_body = RespondIn,
    responses((status = 200, description = "the dispute", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Orders.key())))
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/balance",
    tag = "store admin",
    summary = "Available balance and money held in escrow",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Payouts.key())))
)]
async fn balance(State(state): State<AppState>, access: StaffAccess) -> ApiResult {
    need(&access, Permission::Payouts)?;
    let currency = currency_of(&state, scope(&access)).await?;
    let available = ledger::store_balance(&state.db, scope(&access), currency).await?;
    let held = ledger::escrow_total(&state.db, scope(&access)).await?;
    ok(json!({"available": Money::new(available, currency), "held": Money::new(held, currency)}))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/payouts",
    tag = "store admin",
    summary = "Payout history",
    responses((status = 200, description = "success", body = Vec<Payout>)),
    extensions(("x-permission" = json!(Permission::Payouts.key())))
)]
async fn list_payouts(State(state): State<AppState>, access: StaffAccess) -> ApiResult {
    need(&access, Permission::Payouts)?;
    ok(payouts::list(&state.db, scope(&access)).await?)
}

#[derive(Deserialize, ToSchema)]
struct PayoutIn {
    amount_minor: i64,
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{store}/payouts",
    tag = "store admin",
    summary = "Pay out to the bank (a signed-in person who re-entered their password in the last 10 minutes; not an API token)",
    request_body = PayoutIn,
    responses((status = 201, description = "the payout", body = Payout)),
    extensions(("x-permission" = json!(Permission::Payouts.key())))
)]
async fn payout(
    State(state): State<AppState>,
    access: StaffAccess,
    body: Result<Body<PayoutIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Payouts)?;
    let Body(b) = body?;
    let p = services::payouts::request(&state, &access, b.amount_minor).await.map_err(ApiError::from)?;
    Ok((StatusCode::CREATED, Json(p)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/theme",
    tag = "store admin",
    summary = "Theme template versions and errors",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Theme.key())))
)]
async fn theme(State(state): State<AppState>, access: StaffAccess) -> ApiResult {
    need(&access, Permission::Theme)?;
    ok(json!({"editable": themes::EDITABLE, "versions": themes::versions(&state.db, scope(&access)).await?}))
}

#[derive(Deserialize, ToSchema)]
struct ThemeIn {
    source: String,
}

#[utoipa::path(
    put,
    path = "/api/v1/admin/stores/{store}/theme/{name}",
    tag = "store admin",
    summary = "Save a new version of a template",
    request_body = ThemeIn,
    responses((status = 201, description = "the saved version", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Theme.key())))
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/settings",
    tag = "store admin",
    summary = "Storefront settings",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Theme.key())))
)]
async fn settings(State(state): State<AppState>, access: StaffAccess) -> ApiResult {
    need(&access, Permission::Theme)?;
    let s = orders::settings(&state.db, scope(&access)).await?;
    ok(json!({"flat_shipping_minor": s.flat_shipping_minor, "tagline": s.tagline}))
}

#[derive(Deserialize, ToSchema)]
struct SettingsIn {
    #[serde(default)]
    flat_shipping_minor: Option<i64>,
    #[serde(default)]
    tagline: Option<String>,
}

#[utoipa::path(
    put,
    path = "/api/v1/admin/stores/{store}/settings",
    tag = "store admin",
    summary = "Change storefront settings",
    request_body = SettingsIn,
    responses((status = 200, description = "the settings", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Theme.key())))
)]
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

//! The storefront: marketplace home, search, store and product pages, cart, and the buyer's order pages.
//! Pages render from the theme (see `palisade_commerce::themes`); store and product pages from the store's own
//! theme when it has one. Everything works without JavaScript.

use crate::http::form::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use palisade_commerce::access::OrderAccess;
use palisade_commerce::listing::{self, Card, Page};
use palisade_commerce::orders::{self, Order, Status};
use palisade_commerce::{CommerceError, cart, catalog, disputes, images, reviews};
use palisade_core::{OrderId, StoreId, VariantId};
use palisade_store::tenancy::{self, AccountKind};
use palisade_store::{StoreScope, storefront};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::http::auth::cookie;
use crate::http::id_path::IdPath;
use crate::http::session::{SessionRejection, SignedIn};
use crate::http::{ApiError, PageError};
use crate::page_cache::CachedPage;
use crate::routes::resolve_store;
use crate::state::AppState;

/// The cart cookie's name.
pub const CART_COOKIE: &str = "palisade_cart";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/search", get(search))
        .route("/s/{store}", get(store_page))
        .route("/s/{store}/p/{product}", get(product_page))
        .route("/media/{store}/{image}", get(media))
        .route("/theme/default/theme.css", get(theme_css))
        .route("/s/{store}/theme.css", get(store_css))
        .route("/cart", get(cart_page))
        .route("/cart/add", post(cart_add))
        .route("/cart/update", post(cart_update))
        .route("/orders/{order}", get(order_page))
        .route("/orders/{order}/confirm", post(order_confirm))
        .route("/orders/{order}/dispute", post(order_dispute))
        .route("/orders/{order}/review", post(order_review))
        .route("/account/orders", get(my_orders))
}

/// The shopper behind a request: a signed-in account, if any.
pub(crate) fn shopper_of(s: &Result<SignedIn, SessionRejection>) -> Option<&SignedIn> {
    s.as_ref().ok()
}

/// The request's cart: a signed-in buyer's own (it follows the account), else the guest cart the cookie opens.
pub(crate) async fn cart_of(
    state: &AppState,
    headers: &HeaderMap,
    shopper: Option<&SignedIn>,
) -> Result<Option<cart::CartId>, PageError> {
    if let Some(s) = shopper {
        return Ok(cart::of_buyer(&state.db, s.account.id).await?);
    }
    guest_cart(state, headers).await
}

/// The guest cart the request's cookie opens.
async fn guest_cart(state: &AppState, headers: &HeaderMap) -> Result<Option<cart::CartId>, PageError> {
    match cookie(headers, CART_COOKIE) {
        Some(token) => Ok(cart::find(&state.db, token).await?),
        None => Ok(None),
    }
}

/// At sign-in: merges the browser's guest cart into the account's (see [`cart::merge_into_buyer`]) and answers
/// the header that drops the guest cart's cookie (the cart is gone), if there was one.
pub(crate) async fn merge_guest_cart(
    state: &AppState,
    headers: &HeaderMap,
    account: palisade_core::AccountId,
) -> Result<Option<HeaderValue>, PageError> {
    let Some(guest) = guest_cart(state, headers).await? else { return Ok(None) };
    let (_, merged) = cart::merge_into_buyer(&state.db, &guest, account).await?;
    tracing::info!(account.id = %account, cart.lines = merged.lines, cart.capped = merged.capped, "guest cart merged at sign-in");
    Ok(cart_cookie(state, "", 0))
}

/// How many items the request's cart holds (0 without one).
async fn cart_count(state: &AppState, headers: &HeaderMap, shopper: Option<&SignedIn>) -> Result<i64, PageError> {
    Ok(match cart_of(state, headers, shopper).await? {
        Some(id) => cart::count(&state.db, &id).await?,
        None => 0,
    })
}

/// What every storefront page gets.
pub(crate) async fn common(
    state: &AppState,
    headers: &HeaderMap,
    shopper: Option<&SignedIn>,
    query: &str,
) -> Result<Value, PageError> {
    Ok(common_with(shopper, cart_count(state, headers, shopper).await?, query))
}

/// The sign-in link of a page: back to this page's path afterwards (the path only, which every cached page's key
/// already names; see [`crate::page_cache`]).
fn sign_in_url() -> String {
    match crate::http::error::page_path() {
        Some(p) if crate::http::is_local_path(&p) && p != "/" && !p.starts_with("/login") => {
            format!("/login?next={}", urlencode(&p))
        }
        _ => "/login".to_owned(),
    }
}

/// A page of the buyer's own (sign-in, registration, the account area) in the shop's look: the default theme's
/// `page` with what every storefront page gets plus `ctx`.
pub(crate) async fn shop_page(
    state: &AppState,
    headers: &HeaderMap,
    shopper: Option<&SignedIn>,
    page: &str,
    ctx: Value,
    status: StatusCode,
) -> Result<Response, PageError> {
    let mut base = common(state, headers, shopper, "").await?;
    if let (Some(o), Some(s)) = (base.as_object_mut(), shopper) {
        o.insert("account".into(), json!({"name": s.account.display_name, "email": s.account.email}));
        o.insert("is_staff".into(), json!(s.account.kind != AccountKind::Buyer));
    }
    let html = state.themes.render_default(page, &merge(base, ctx), &crate::http::csrf::token())?;
    Ok((status, Html(html)).into_response())
}

/// [`common`] from what was already read; a cached page's key names each of these.
fn common_with(shopper: Option<&SignedIn>, cart_count: i64, query: &str) -> Value {
    json!({
        "site": {"name": "Palisade Market"},
        // Store pages render through the merchant's templates, whose output may make the shopper's browser fetch
        // store URLs the merchant can read back (image paths in firewall samples): no personal data in the
        // context, only whether someone is signed in.
        "shopper": shopper.map(|_| json!({"signed_in": true})),
        "cart_count": cart_count,
        "query": query,
        "flash": null,
        "sign_in_url": sign_in_url(),
    })
}

/// Answers a page from the page cache, or renders it (with the cache's marker in place of the request's token)
/// and keeps it. `key` must name everything the render reads (see [`crate::page_cache`]): the content version
/// read before the page's data, the page's parameters and the cart count. Signed-in shoppers never get here.
async fn cached<F, Fut>(state: &AppState, key: String, render: F) -> Result<Response, PageError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<String, PageError>>,
{
    let token = crate::http::csrf::token();
    let cache = &state.page_cache;
    if !cache.enabled() {
        return Ok(Html(render(token).await?).into_response());
    }
    if let Some(page) = cache.get(&key) {
        return Ok(Html(page.with_token(&token)).into_response());
    }
    let page = Arc::new(CachedPage::split(render(cache.marker().to_owned()).await?, cache.marker()));
    let body = page.with_token(&token);
    cache.insert(key, page);
    Ok(Html(body).into_response())
}

/// Length of the clock slots cached pages are keyed by: reviews say "today" or "3 days ago" in the store's zone,
/// and every zone's midnight falls on a quarter hour.
const SLOT_MS: i64 = 15 * 60 * 1000;

/// The current clock slot (see [`SLOT_MS`]).
fn clock_slot(state: &AppState) -> i64 {
    state.db.now().0.div_euclid(SLOT_MS)
}

/// `base` with `now` set to the start of `slot`, so a cached page depends on the slot its key names only.
fn at_slot(base: Value, slot: i64) -> Value {
    merge(base, json!({"now": slot.saturating_mul(SLOT_MS)}))
}

fn merge(mut base: Value, page: Value) -> Value {
    if let (Some(b), Value::Object(p)) = (base.as_object_mut(), page) {
        b.extend(p);
    }
    base
}

fn page_html(state: &AppState, page: &str, ctx: &Value) -> Result<Response, PageError> {
    let html = state.themes.render_default(page, ctx, &crate::http::csrf::token())?;
    Ok(Html(html).into_response())
}

fn image_url(store_slug: &str, image: Option<impl std::fmt::Display>) -> Option<String> {
    image.map(|i| format!("/media/{store_slug}/{i}"))
}

fn card_json(c: &Card) -> Value {
    let mut v = json!(c);
    if let Some(o) = v.as_object_mut() {
        o.insert("url".into(), json!(format!("/s/{}/p/{}", c.store_slug, c.slug)));
        o.insert("image_url".into(), json!(image_url(&c.store_slug, c.image_id)));
    }
    v
}

fn page_json(p: &Page, base: &str) -> Value {
    let sep = if base.contains('?') { '&' } else { '?' };
    json!({
        "cards": p.cards.iter().map(card_json).collect::<Vec<_>>(),
        "page": p.page,
        "has_next": p.has_next,
        "next_url": p.has_next.then(|| format!("{base}{sep}page={}", p.page + 1)),
        "prev_url": (p.page > 1).then(|| format!("{base}{sep}page={}", p.page - 1)),
    })
}

async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Result<SignedIn, SessionRejection>,
) -> Result<Response, PageError> {
    if let Some(shopper) = shopper_of(&s) {
        let base = common(&state, &headers, Some(shopper), "").await?;
        return Ok(Html(render_home(&state, base, &crate::http::csrf::token()).await?).into_response());
    }
    let version = storefront::marketplace(&state.db).await?;
    let cart = cart_count(&state, &headers, None).await?;
    let st = &state;
    cached(st, format!("home:{version}:{cart}"), |csrf| async move {
        render_home(st, common_with(None, cart, ""), &csrf).await
    })
    .await
}

async fn render_home(state: &AppState, base: Value, csrf: &str) -> Result<String, PageError> {
    let stores = listing::stores(&state.db).await?;
    let latest = listing::search(&state.db, "", 1).await?;
    let stores: Vec<Value> = stores
        .iter()
        .map(|st| {
            let mut v = json!(st);
            if let Some(o) = v.as_object_mut() {
                o.insert("url".into(), json!(format!("/s/{}", st.slug)));
            }
            v
        })
        .collect();
    let ctx = merge(base, json!({"stores": stores, "latest": page_json(&latest, "/search?q=")}));
    Ok(state.themes.render_default("home.html", &ctx, csrf)?)
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    category: Option<String>,
}

async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Result<SignedIn, SessionRejection>,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let text: String = q.q.chars().take(200).collect();
    let page = q.page.unwrap_or(1);
    if let Some(shopper) = shopper_of(&s) {
        let base = common(&state, &headers, Some(shopper), &text).await?;
        return Ok(Html(render_search(&state, base, &text, page, &crate::http::csrf::token()).await?).into_response());
    }
    let version = storefront::marketplace(&state.db).await?;
    let cart = cart_count(&state, &headers, None).await?;
    let (st, t) = (&state, &text);
    cached(st, format!("search:{version}:{cart}:{page}:{text}"), |csrf| async move {
        render_search(st, common_with(None, cart, t), t, page, &csrf).await
    })
    .await
}

async fn render_search(state: &AppState, base: Value, text: &str, page: i64, csrf: &str) -> Result<String, PageError> {
    let results = listing::search(&state.db, text, page).await?;
    let url = format!("/search?q={}", urlencode(text));
    let ctx = merge(base, json!({"results": page_json(&results, &url)}));
    Ok(state.themes.render_default("search.html", &ctx, csrf)?)
}

/// Percent-encodes a query value.
pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A store as the theme sees it.
async fn store_json(state: &AppState, scope: &StoreScope) -> Result<Value, PageError> {
    let store = listing::storefront(&state.db, scope).await?.ok_or_else(|| ApiError::not_found("store"))?;
    Ok(json!({
        "css_url": store.stylesheet.map(|v| format!("/s/{}/theme.css?v={v}", store.slug)),
        "url": format!("/s/{}", store.slug),
        "id": store.id,
        "slug": store.slug,
        "name": store.name,
        "tagline": store.tagline,
        "rating": store.rating,
        "shipping": store.shipping,
    }))
}

/// What the trust bar above a store's pages says (themes/default/templates/trust_bar.html): the platform's own
/// word on the seller, rendered only by platform templates. The store's front page (no `listing`) also explains
/// the rating.
fn trust_json(
    store: &Value,
    safety: &palisade_commerce::safety::SafetyRating,
    listing: Option<palisade_core::ProductId>,
) -> Value {
    json!({
        "store_id": store.get("id"),
        "store_name": store.get("name"),
        "safety": safety,
        "listing": listing,
        "details": listing.is_none(),
    })
}

async fn shop_scope(state: &AppState, key: &str, s: Option<&SignedIn>) -> Result<StoreScope, PageError> {
    let id: StoreId = resolve_store(state, key).await?;
    Ok(StoreScope::shopper(id, s.map(|s| s.account.id)))
}

async fn render_store_page(
    state: &AppState,
    scope: &StoreScope,
    page: &str,
    ctx: &Value,
    csrf: &str,
) -> Result<String, PageError> {
    Ok(state.themes.render_store(&state.db, scope, page, ctx, csrf).await?.html)
}

/// The store a storefront path names and its content version, read before the page's data (see
/// [`crate::page_cache`]).
async fn store_version(state: &AppState, key: &str) -> Result<(StoreId, i64), PageError> {
    Ok(storefront::resolve(&state.db, key).await?.ok_or_else(|| ApiError::not_found("store"))?)
}

async fn store_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Result<SignedIn, SessionRejection>,
    Path(key): Path<String>,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let category = q.category.unwrap_or_default();
    let page = q.page.unwrap_or(1);
    if let Some(shopper) = shopper_of(&s) {
        let scope = shop_scope(&state, &key, Some(shopper)).await?;
        let base = merge(common(&state, &headers, Some(shopper), "").await?, json!({"now": state.db.now()}));
        let html = render_store(&state, &scope, base, &key, &category, page, &crate::http::csrf::token()).await?;
        return Ok(Html(html).into_response());
    }
    let (id, version) = store_version(&state, &key).await?;
    let cart = cart_count(&state, &headers, None).await?;
    let scope = StoreScope::shopper(id, None);
    let slot = clock_slot(&state);
    let cache_key = format!("store:{id}:{version}:{cart}:{slot}:{page}:{}:{key}:{category}", key.len());
    let (st, sc, k, c) = (&state, &scope, &key, &category);
    cached(st, cache_key, |csrf| async move {
        render_store(st, sc, at_slot(common_with(None, cart, ""), slot), k, c, page, &csrf).await
    })
    .await
}

async fn render_store(
    state: &AppState,
    scope: &StoreScope,
    base: Value,
    key: &str,
    category: &str,
    page: i64,
    csrf: &str,
) -> Result<String, PageError> {
    let store = store_json(state, scope).await?;
    let products = listing::store_page(&state.db, scope, Some(category), page).await?;
    let categories = catalog::list_categories(&state.db, scope).await?;
    let latest_reviews = reviews::latest(&state.db, scope, 6).await?;
    let zone = palisade_commerce::orders::time_zone(&state.db, scope).await?;
    // Public and explained (issue #20 item 7); cached per store for a minute, so at most one query a minute.
    let safety = palisade_commerce::safety::rating(&state.db, scope).await?;
    let trust = trust_json(&store, &safety, None);
    let url = format!("/s/{}?category={}", key, urlencode(category));
    let ctx = merge(
        base,
        json!({
            "store": store,
            "categories": categories,
            "category": category,
            "products": page_json(&products, &url),
            "reviews": latest_reviews,
            "time_zone": zone,
            "safety": safety,
            "trust": trust,
        }),
    );
    render_store_page(state, scope, "store.html", &ctx, csrf).await
}

async fn product_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Result<SignedIn, SessionRejection>,
    Path((key, slug)): Path<(String, String)>,
) -> Result<Response, PageError> {
    if let Some(shopper) = shopper_of(&s) {
        let scope = shop_scope(&state, &key, Some(shopper)).await?;
        let base = merge(common(&state, &headers, Some(shopper), "").await?, json!({"now": state.db.now()}));
        let html = render_product(&state, &scope, base, &key, &slug, &crate::http::csrf::token()).await?;
        return Ok(Html(html).into_response());
    }
    let (id, version) = store_version(&state, &key).await?;
    let cart = cart_count(&state, &headers, None).await?;
    let scope = StoreScope::shopper(id, None);
    let slot = clock_slot(&state);
    let cache_key = format!("product:{id}:{version}:{cart}:{slot}:{}:{key}:{slug}", key.len());
    let (st, sc, k, sl) = (&state, &scope, &key, &slug);
    cached(st, cache_key, |csrf| async move {
        render_product(st, sc, at_slot(common_with(None, cart, ""), slot), k, sl, &csrf).await
    })
    .await
}

async fn render_product(
    state: &AppState,
    scope: &StoreScope,
    base: Value,
    key: &str,
    slug: &str,
    csrf: &str,
) -> Result<String, PageError> {
    let store = store_json(state, scope).await?;
    let product = catalog::get_by_slug(&state.db, scope, slug).await?;
    let store_slug = store.get("slug").and_then(Value::as_str).unwrap_or(key).to_owned();
    let imgs: Vec<Value> = images::list(&state.db, scope, product.id)
        .await?
        .into_iter()
        .map(|i| {
            json!({"id": i.id, "url": format!("/media/{store_slug}/{}", i.id), "alt": if i.alt.is_empty() { product.title.clone() } else { i.alt }, "width": i.width, "height": i.height})
        })
        .collect();
    let latest_reviews = reviews::latest(&state.db, scope, 10).await?;
    let zone = palisade_commerce::orders::time_zone(&state.db, scope).await?;
    let mut p = json!(product);
    if let Some(o) = p.as_object_mut() {
        o.insert("url".into(), json!(format!("/s/{store_slug}/p/{}", product.slug)));
    }
    let safety = palisade_commerce::safety::rating(&state.db, scope).await?;
    let trust = trust_json(&store, &safety, Some(product.id));
    let blocks = crate::services::extensions::product_blocks(state, scope, &product).await;
    let ctx = merge(
        base,
        json!({"store": store, "product": p, "images": imgs, "reviews": latest_reviews, "time_zone": zone, "trust": trust,
               "extension_blocks": blocks}),
    );
    render_store_page(state, scope, "product.html", &ctx, csrf).await
}

async fn media(
    State(state): State<AppState>,
    s: Result<SignedIn, SessionRejection>,
    crate::http::id_path::IdPath((key, image)): crate::http::id_path::IdPath<(String, palisade_core::ImageId)>,
) -> Result<Response, PageError> {
    let id = resolve_store(&state, &key).await?;
    // Staff previewing a draft product see its images; everyone else only published ones.
    let scope = match shopper_of(&s) {
        Some(s) if s.account.kind != AccountKind::Buyer => tenancy::membership(&state.db, s.account.id, id)
            .await?
            .map_or_else(|| StoreScope::shopper(id, Some(s.account.id)), |m| m.scope.into()),
        other => StoreScope::shopper(id, other.map(|s| s.account.id)),
    };
    let (content_type, bytes) = images::open(&state.db, &state.objects, &scope, image).await?;
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    Ok(res)
}

async fn theme_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        palisade_commerce::themes::DEFAULT_CSS,
    )
        .into_response()
}

/// The store's own stylesheet (Admin → Theme → theme.css), after the default one.
async fn store_css(State(state): State<AppState>, Path(key): Path<String>) -> Result<Response, PageError> {
    let id = resolve_store(&state, &key).await?;
    let scope = StoreScope::shopper(id, None);
    let (_, css) = palisade_commerce::themes::stylesheet(&state.db, &scope)
        .await?
        .ok_or_else(|| ApiError::not_found("stylesheet"))?;
    let css = palisade_commerce::themes::scoped_stylesheet(&css);
    Ok(([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=300")], css)
        .into_response())
}

/// Sets the cart cookie (HttpOnly, this site only; a year, or 0 to drop it).
fn cart_cookie(state: &AppState, token: &str, max_age: u64) -> Option<HeaderValue> {
    let secure = if state.config.behind_tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{CART_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"))
        .ok()
}

async fn cart_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Result<SignedIn, SessionRejection>,
) -> Result<Response, PageError> {
    cart_response(&state, &headers, shopper_of(&s), None, StatusCode::OK).await
}

pub(crate) async fn cart_response(
    state: &AppState,
    headers: &HeaderMap,
    shopper: Option<&SignedIn>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let view = match cart_of(state, headers, shopper).await? {
        Some(id) => cart::view(&state.db, &id).await?,
        None => cart::View { groups: Vec::new(), items: 0 },
    };
    let mut v = json!(view);
    if let Some(groups) = v.get_mut("groups").and_then(Value::as_array_mut) {
        for g in groups {
            let slug = g.get("store_slug").and_then(Value::as_str).unwrap_or_default().to_owned();
            if let Some(o) = g.as_object_mut() {
                o.insert("checkout_url".into(), json!(format!("/checkout/{slug}")));
            }
            if let Some(lines) = g.get_mut("lines").and_then(Value::as_array_mut) {
                for l in lines {
                    let product = l.get("product_slug").and_then(Value::as_str).unwrap_or_default().to_owned();
                    let image = l.get("image_id").and_then(Value::as_str).map(str::to_owned);
                    if let Some(o) = l.as_object_mut() {
                        o.insert("url".into(), json!(format!("/s/{slug}/p/{product}")));
                        o.insert("image_url".into(), json!(image_url(&slug, image.as_deref())));
                    }
                }
            }
        }
    }
    let ctx = merge(common(state, headers, shopper, "").await?, json!({"cart": v, "error": error}));
    let html = state.themes.render_default("cart.html", &ctx, &crate::http::csrf::token())?;
    Ok((status, Html(html)).into_response())
}

#[derive(Debug, Deserialize)]
struct CartForm {
    variant_id: String,
    quantity: String,
}

/// The form's variant, parsed before anything is looked up or created: a value that is not an id is the
/// sender's mistake (422 naming the field), not a missing product.
fn variant(s: &str) -> Result<VariantId, PageError> {
    s.trim().parse().map_err(|_| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "variant_id is not a product variant's id").into()
    })
}

fn quantity(s: &str) -> Result<i64, PageError> {
    s.trim().parse().map_err(|_| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "quantity must be a whole number").into()
    })
}

async fn cart_add(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Result<SignedIn, SessionRejection>,
    Form(form): Form<CartForm>,
) -> Result<Response, PageError> {
    let (variant, qty) = (variant(&form.variant_id)?, quantity(&form.quantity)?);
    let (id, new_token) = match (shopper_of(&s), guest_cart(&state, &headers).await?) {
        (Some(buyer), _) => (cart::open_for_buyer(&state.db, buyer.account.id).await?, None),
        (None, Some(id)) => (id, None),
        (None, None) => {
            let (id, token) = cart::create(&state.db).await?;
            (id, Some(token))
        }
    };
    cart::add(&state.db, &id, variant, qty).await?;
    let mut res = Redirect::to("/cart").into_response();
    if let Some(token) = new_token
        && let Some(c) = cart_cookie(&state, &token, 31_536_000)
    {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(res)
}

async fn cart_update(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Result<SignedIn, SessionRejection>,
    Form(form): Form<CartForm>,
) -> Result<Response, PageError> {
    let (variant, qty) = (variant(&form.variant_id)?, quantity(&form.quantity)?);
    let id = cart_of(&state, &headers, shopper_of(&s)).await?.ok_or_else(|| ApiError::not_found("cart"))?;
    cart::set_quantity(&state.db, &id, variant, qty).await?;
    Ok(Redirect::to("/cart").into_response())
}

#[derive(Debug, Deserialize)]
struct LinkQuery {
    #[serde(default)]
    k: Option<String>,
}

/// The buyer's access to an order: whoever holds its signed link, or the signed-in buyer who placed it. Anything
/// else is 404, whether the order exists or not.
async fn order_access(
    state: &AppState,
    s: Option<&SignedIn>,
    order: OrderId,
    key: Option<&str>,
) -> Result<OrderAccess, PageError> {
    if let Some(k) = key {
        match OrderAccess::by_link(&state.db, state.identity.links(), order, k).await {
            Ok(access) => return Ok(access),
            Err(CommerceError::Store(palisade_store::StoreError::NotFound(_))) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let Some(s) = s else { return Err(ApiError::not_found("order").into()) };
    Ok(OrderAccess::for_buyer(&state.db, s.account.id, order).await?)
}

/// The address of an order's page: signed for guests, plain for the signed-in buyer.
pub(crate) fn order_link(state: &AppState, order: &Order) -> String {
    if order.buyer_id.is_some() {
        format!("/orders/{}", order.id)
    } else {
        format!("/orders/{}?k={}", order.id, OrderAccess::link_tag(state.identity.links(), order.id))
    }
}

fn with_key(path: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("{path}?k={}", urlencode(k)),
        None => path.to_owned(),
    }
}

async fn order_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Result<SignedIn, SessionRejection>,
    IdPath(id): IdPath<OrderId>,
    Query(q): Query<LinkQuery>,
) -> Result<Response, PageError> {
    let access = order_access(&state, shopper_of(&s), id, q.k.as_deref()).await?;
    let order = access.order(&state.db).await?;
    let items = access.items(&state.db).await?;
    let events = access.events(&state.db).await?;
    let dispute = disputes::for_buyer(&state.db, &access).await?;
    let reviewed = reviews::exists_for(&state.db, &access).await?;
    let store = tenancy::get_store(&state.db, access.scope()).await?;
    let zone = orders::time_zone(&state.db, access.scope()).await?;
    let key = q.k.as_deref();
    let base = format!("/orders/{id}");
    let ctx = merge(
        common(&state, &headers, shopper_of(&s), "").await?,
        json!({
            "order": order,
            "time_zone": zone,
            "now": state.db.now(),
            "items": items,
            "events": events,
            "store": {"slug": store.slug, "name": store.name, "url": format!("/s/{}", store.slug)},
            "dispute": dispute,
            "review": reviewed,
            "link": key.map(|_| format!("{}{}", state.config.public_url, with_key(&base, key))),
            "actions": {
                "confirm": with_key(&format!("{base}/confirm"), key),
                "dispute": with_key(&format!("{base}/dispute"), key),
                "review": with_key(&format!("{base}/review"), key),
            },
            "reasons": disputes::REASONS,
            "can_confirm": matches!(order.status, Status::Shipped | Status::Delivered),
            "can_dispute": dispute.is_none() && order.status.can_become(Status::Disputed),
            "can_review": !reviewed && order.status == Status::Completed,
        }),
    );
    page_html(&state, "order.html", &ctx)
}

fn back_to(id: OrderId, key: Option<&str>) -> Response {
    Redirect::to(&with_key(&format!("/orders/{id}"), key)).into_response()
}

async fn order_confirm(
    State(state): State<AppState>,
    s: Result<SignedIn, SessionRejection>,
    IdPath(id): IdPath<OrderId>,
    Query(q): Query<LinkQuery>,
) -> Result<Response, PageError> {
    let access = order_access(&state, shopper_of(&s), id, q.k.as_deref()).await?;
    orders::confirm_received(&state.db, &access, &state.config.commerce).await?;
    Ok(back_to(id, q.k.as_deref()))
}

#[derive(Debug, Deserialize)]
struct DisputeForm {
    reason: String,
    statement: String,
}

async fn order_dispute(
    State(state): State<AppState>,
    s: Result<SignedIn, SessionRejection>,
    IdPath(id): IdPath<OrderId>,
    Query(q): Query<LinkQuery>,
    Form(form): Form<DisputeForm>,
) -> Result<Response, PageError> {
    let access = order_access(&state, shopper_of(&s), id, q.k.as_deref()).await?;
    disputes::open(&state.db, &access, &form.reason, &form.statement).await?;
    Ok(back_to(id, q.k.as_deref()))
}

#[derive(Debug, Deserialize)]
struct ReviewForm {
    rating: String,
    #[serde(default)]
    body: String,
}

async fn order_review(
    State(state): State<AppState>,
    s: Result<SignedIn, SessionRejection>,
    IdPath(id): IdPath<OrderId>,
    Query(q): Query<LinkQuery>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, PageError> {
    let access = order_access(&state, shopper_of(&s), id, q.k.as_deref()).await?;
    let rating = form.rating.trim().parse().unwrap_or(0);
    reviews::add(&state.db, &access, rating, &form.body).await?;
    Ok(back_to(id, q.k.as_deref()))
}

async fn my_orders(State(state): State<AppState>, headers: HeaderMap, s: SignedIn) -> Result<Response, PageError> {
    let list = orders::for_buyer(&state.db, s.account.id, 100).await?;
    let now = state.db.now();
    let rows: Vec<_> = list
        .iter()
        .map(|o| {
            let mut v = json!(o);
            if let Some(m) = v.as_object_mut() {
                m.insert("url".into(), json!(format!("/orders/{}", o.order.id)));
                // Each order in its own store's time zone.
                m.insert("placed_at".into(), json!(o.time_zone.local(o.order.created_at)));
                m.insert("placed_ago".into(), json!(o.time_zone.ago(o.order.created_at, now)));
            }
            v
        })
        .collect();
    shop_page(&state, &headers, Some(&s), "orders.html", json!({"orders": rows, "tab": "orders"}), StatusCode::OK).await
}
